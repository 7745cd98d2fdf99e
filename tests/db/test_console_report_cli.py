"""``dermbot report`` end to end on a real database: report.md with the figures, PNG charts, no patient text."""

from __future__ import annotations

import datetime as dt

from PIL import Image

from bot.cli import main
from dermvqa.storage.models import Case, Patient, Review

WORDS = "a very private description of a rash"
DRAFT, SENT = "You have mild eczema, use emollients.", "You have contact dermatitis; avoid the new soap."
T0 = dt.datetime(2026, 11, 10, 8, 0, tzinfo=dt.UTC)
CLINICIAN = 4242


def populate(db) -> None:
    with db.write() as session:
        patient = Patient(telegram_user_id=31337, chat_id=31337)
        session.add(patient)
        session.flush()
        for hours, action, urgent in ((2, "edit", False), (1, "approve", True)):
            case = Case(
                patient_id=patient.id,
                state="answered",
                urgent=urgent,
                description=WORDS,
                final_text=SENT,
                submitted_at=T0,
                answered_at=T0 + dt.timedelta(hours=hours),
            )
            session.add(case)
            session.flush()
            session.add(
                Review(
                    case_id=case.id,
                    clinician_id=CLINICIAN,
                    action=action,
                    draft_text=DRAFT,
                    final_text=SENT if action == "edit" else DRAFT,
                    created_at=T0 + dt.timedelta(hours=hours),
                )
            )


def config_file(tmp_path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "dermbot.sqlite3"}"\n')
    return str(path)


def test_report_writes_markdown_and_charts_without_patient_text(tmp_path, db, capsys):
    populate(db)
    out = tmp_path / "console"
    code = main(
        [
            "report",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-30",
            "--out",
            str(out),
            "--config",
            config_file(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 decisions, 2 answered cases" in printed
    page = (out / "report.md").read_text()
    assert "# Clinician console: 2026-11-01 00:00 to 2026-12-01 00:00 UTC" in page
    assert "draft use ~20% in published studies" in page
    assert f"| | all | {CLINICIAN} |" in page
    assert "| approved unedited | 1 (50%) | 1 (50%) |" in page and "| edited | 1 (50%) | 1 (50%) |" in page
    assert "| urgent: answer | p50 1.0 h, p90 1.0 h (n=1) |" in page
    assert "![Decisions on drafts](decisions.png)" in page and "(answer_times.png)" in page
    for name in ("decisions.png", "answer_times.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size == (800, 450)
    for text in (WORDS, DRAFT, SENT, "31337"):
        assert text not in page and text not in printed


def test_report_for_a_period_without_data_and_for_one_clinician(tmp_path, db):
    populate(db)
    out = tmp_path / "empty"
    assert main(["--config", config_file(tmp_path), "report", "--since", "2027-01-01", "--out", str(out)]) == 0
    assert "| decisions | 0 |" in (out / "report.md").read_text()
    one = tmp_path / "one"
    args = ["--config", config_file(tmp_path), "report", "--since", "2026-11-01", "--clinician", "1", "--out", str(one)]
    assert main(args) == 0
    assert "| decisions | 0 | 0 |" in (one / "report.md").read_text()


def test_a_bad_date_exits_2_with_one_line(tmp_path, capsys):
    code = main(["--config", config_file(tmp_path), "report", "--since", "01/11/2026", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "not a date: '01/11/2026' (expected YYYY-MM-DD" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
