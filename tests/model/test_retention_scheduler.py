"""The nightly retention purge on the training scheduler, under a controlled clock (as in
test_training_scheduler.py): the real BackgroundScheduler reads a fake ``datetime.now``; the test moves
the clock and wakes it. Last, the real job purges a real database when it fires."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import select, update
from support.cases import photo_bytes
from support.clock import WARSAW, Clock, install_fake_clock

from dermvqa.casework.purge import last_report, scheduled_purge
from dermvqa.config import load_config
from dermvqa.storage.intake import add_image, ensure_patient, open_case
from dermvqa.storage.models import Case
from training.scheduler import JOB_ID, PURGE_JOB_ID, build_scheduler


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return install_fake_clock(monkeypatch)


def config_file(tmp_path, training=None, **retention):
    lines = [
        f'[database]\nurl = "sqlite:///{tmp_path / "dermbot.sqlite3"}"',
        f'[storage]\ndir = "{tmp_path / "images"}"',
        "[training]",
    ]
    lines += [f'{k} = "{v}"' for k, v in (training or {}).items()]
    lines += ["[retention]"]
    lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in retention.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Calls:
    def __init__(self, clock: Clock) -> None:
        self.clock, self.times, self.event = clock, [], threading.Event()

    def __call__(self) -> None:
        self.times.append(self.clock.now)
        self.event.set()

    def wait(self, timeout: float) -> bool:
        fired = self.event.wait(timeout)
        self.event.clear()
        return fired


def at(clock, scheduler, when: dt.datetime) -> None:
    clock.now = when
    scheduler.wakeup()


def test_the_purge_fires_at_purge_schedule_in_the_configured_zone(tmp_path, clock):
    path = config_file(tmp_path, purge_schedule="15 4 * * *", timezone="Europe/Warsaw", misfire_grace_seconds=900)
    purges, launches = Calls(clock), Calls(clock)
    scheduler = build_scheduler(load_config(path, environ={}), launch=launches, purge=purges)
    scheduler.start()
    try:
        job = scheduler.get_job(PURGE_JOB_ID)
        assert job.next_run_time == dt.datetime(2026, 1, 15, 3, 15, tzinfo=dt.UTC)  # 04:15 in Warsaw
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 900)
        assert scheduler.get_job(JOB_ID) is not None  # the training job is still there
        at(clock, scheduler, dt.datetime(2026, 1, 15, 4, 14, 59, tzinfo=WARSAW))
        assert not purges.wait(0.3)
        at(clock, scheduler, dt.datetime(2026, 1, 15, 4, 15, tzinfo=WARSAW))
        assert purges.wait(5)
        assert purges.times == [dt.datetime(2026, 1, 15, 4, 15, tzinfo=WARSAW)]
        assert scheduler.get_job(PURGE_JOB_ID).next_run_time == dt.datetime(2026, 1, 16, 4, 15, tzinfo=WARSAW)
        # A night missed past the grace period is skipped; the nights missed are coalesced into one run.
        at(clock, scheduler, dt.datetime(2026, 1, 16, 4, 30, 1, tzinfo=WARSAW))
        assert not purges.wait(0.5)
        at(clock, scheduler, dt.datetime(2026, 1, 17, 4, 20, tzinfo=WARSAW))
        assert purges.wait(5)
        assert not purges.wait(0.5) and len(purges.times) == 2
    finally:
        scheduler.shutdown(wait=True)


def test_the_default_is_half_past_three_in_the_training_zone_and_runs_the_real_purge(tmp_path, clock):
    config = load_config(config_file(tmp_path, training={"timezone": "Europe/Warsaw"}), environ={})
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(PURGE_JOB_ID)
        assert job.next_run_time == dt.datetime(2026, 1, 15, 3, 30, tzinfo=WARSAW)
        assert job.func is scheduled_purge and job.args == (config,)
    finally:
        scheduler.shutdown(wait=False)


def test_the_job_purges_the_database_when_it_fires(tmp_path, clock, db, store):
    with db.write() as s:
        patient = ensure_patient(s, 1, 1)
        case = open_case(s, patient.id)
        add_image(s, case.id, store.put(photo_bytes(), max_pixels=10**9))
        s.flush()
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
        s.execute(update(Case).where(Case.id == case.id).values(state="withdrawn", updated_at=long_ago))
    config = load_config(config_file(tmp_path, purge_schedule="0 4 * * *", timezone="UTC"), environ={})
    scheduler = build_scheduler(config, launch=lambda: None)
    scheduler.start()
    try:
        at(clock, scheduler, dt.datetime(2026, 1, 15, 4, 0, 1, tzinfo=dt.UTC))
        deadline = time.monotonic() + 20
        while last_report(db) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    found = last_report(db)
    assert found is not None
    assert (found[0].cases_withdrawn, found[0].photos, found[0].photo_files) == (1, 1, 1)
    with db.read() as s:
        assert s.scalar(select(Case.id)) is None
    assert not any(p.is_file() for p in (tmp_path / "images").rglob("*"))


def test_a_failed_purge_is_logged_by_type_only_and_the_job_stays(tmp_path, caplog):
    bad = tmp_path / "secret-folder" / "not-a-database.sqlite3"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not a database" * 100)
    path = config_file(tmp_path)
    path.write_text(path.read_text().replace(str(tmp_path / "dermbot.sqlite3"), str(bad)))
    with caplog.at_level(logging.ERROR, logger="dermvqa.casework.purge"):
        assert scheduled_purge(load_config(path, environ={})) is None
    assert "retention purge failed (" in caplog.text
    assert "secret-folder" not in caplog.text and "not-a-database" not in caplog.text
