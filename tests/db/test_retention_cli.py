"""``dermbot retention status|purge [--dry-run]`` on a real database: counts only, never ids or words."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from support.cases import photo_bytes

from bot.cli import main
from dermvqa.storage.intake import add_image, ensure_patient, open_case
from dermvqa.storage.models import Case, CaseImage

USER = 987654321
WORDS = "a very private description of a rash"


def setup(tmp_path, db, store) -> tuple[str, int, str]:
    with db.write() as s:
        patient = ensure_patient(s, USER, USER)
        case = open_case(s, patient.id)
        case.description = WORDS
        add_image(s, case.id, store.put(photo_bytes(), max_pixels=10**9))
        s.flush()
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        s.execute(update(Case).where(Case.id == case.id).values(state="withdrawn", updated_at=long_ago))
        name = s.scalar(select(CaseImage.sha256))
        case_id = case.id
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "dermbot.sqlite3"}"\n[storage]\ndir = "{tmp_path / "images"}"\n'
        "[retention]\nfailed_days = 0\n"
    )
    return str(path), case_id, name


def no_details(out: str, name: str) -> None:
    assert WORDS not in out and str(USER) not in out and name not in out and name[:12] not in out


def test_status_dry_run_and_purge_print_counts_only(tmp_path, db, store, capsys):
    path, case_id, name = setup(tmp_path, db, store)

    assert main(["--config", path, "retention", "status"]) == 0
    out = capsys.readouterr().out
    assert "withdrawn cases: 30 days" in out and "failed cases: forever" in out
    assert "audit of clinicians' decisions: 3650 days" in out
    assert "'30 3 * * *' UTC" in out and "last purge: none yet" in out

    assert main(["retention", "purge", "--dry-run", "--config", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: would purge")
    assert "cases: 1 (answered 0, rejected 0, withdrawn 1, failed 0)" in out and "photos: 1 (files: 1)" in out
    assert "nothing was deleted" in out
    no_details(out, name)
    with db.read() as s:
        assert s.scalar(select(Case.id)) == case_id
    assert main(["--config", path, "retention", "status"]) == 0
    assert "last purge: none yet" in capsys.readouterr().out  # a dry run is not recorded

    assert main(["--config", path, "retention", "purge"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("purged in ")
    assert "withdrawn 1" in out and "photos: 1 (files: 1)" in out
    no_details(out, name)
    with db.read() as s:
        assert s.scalar(select(Case.id)) is None

    assert main(["--config", path, "retention", "status"]) == 0
    out = capsys.readouterr().out
    assert "last purge: " in out and "none yet" not in out
    assert "cases: 1 (answered 0, rejected 0, withdrawn 1, failed 0)" in out
    no_details(out, name)

    assert main(["--config", path, "retention", "purge"]) == 0  # again: nothing left
    assert "cases: 0 (" in capsys.readouterr().out


def test_an_unknown_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["retention", "erase-everything"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
