"""The nightly schedule under a controlled clock: the real BackgroundScheduler and its executor read a
fake ``datetime.now``; the test moves the clock and wakes the scheduler. A wrong schedule or time zone
fails these tests (02:30 in Warsaw is 01:30 UTC in winter). Last, the job's real launcher runs the
pipeline in a child process, which records why it skipped."""

from __future__ import annotations

import datetime as dt
import sys
import threading

import pytest
from sqlalchemy import select
from support.clock import WARSAW, Clock, install_fake_clock

from dermvqa.config import load_config
from dermvqa.storage.database import open_database
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.models import TrainingRun
from training.scheduler import JOB_ID, build_scheduler, launch_nightly, nightly_command


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return install_fake_clock(monkeypatch)


def config_file(tmp_path, **training):
    lines = [f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"', "[training]"]
    lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in training.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Launches:
    def __init__(self, clock: Clock, block: threading.Event | None = None) -> None:
        self.clock, self.block, self.times, self.event = clock, block, [], threading.Event()

    def __call__(self) -> None:
        self.times.append(self.clock.now)
        self.event.set()
        if self.block is not None:
            self.block.wait(10)

    def wait(self, timeout: float) -> bool:
        fired = self.event.wait(timeout)
        self.event.clear()
        return fired


def started(config, launches):
    scheduler = build_scheduler(config, launch=launches)
    scheduler.start()
    return scheduler


def at(clock, scheduler, when: dt.datetime) -> None:
    clock.now = when
    scheduler.wakeup()


def test_fires_at_the_configured_time_in_the_configured_zone(tmp_path, clock):
    config = load_config(config_file(tmp_path, schedule="30 2 * * *", timezone="Europe/Warsaw"), environ={})
    launches = Launches(clock)
    scheduler = started(config, launches)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.next_run_time == dt.datetime(2026, 1, 15, 1, 30, tzinfo=dt.UTC)  # 02:30 in Warsaw
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 3600)
        at(clock, scheduler, dt.datetime(2026, 1, 15, 2, 29, 59, tzinfo=WARSAW))
        assert not launches.wait(0.3)
        at(clock, scheduler, dt.datetime(2026, 1, 15, 2, 30, 0, tzinfo=WARSAW))
        assert launches.wait(5)
        assert launches.times == [dt.datetime(2026, 1, 15, 2, 30, tzinfo=WARSAW)]
        assert scheduler.get_job(JOB_ID).next_run_time == dt.datetime(2026, 1, 16, 2, 30, tzinfo=WARSAW)
    finally:
        scheduler.shutdown(wait=True)


def test_the_default_is_two_in_the_morning_utc_and_launches_the_nightly_process(tmp_path, clock):
    path = config_file(tmp_path)
    scheduler = build_scheduler(load_config(path, environ={}), path)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.next_run_time == dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.UTC)  # 03:00 Warsaw has passed 02:00 UTC
        assert job.func is launch_nightly and job.args == (path,)
    finally:
        scheduler.shutdown(wait=False)
    command = [sys.executable, "-m", "training.nightly", "--trigger", "schedule", "--config", str(path.resolve())]
    assert nightly_command(path) == command


def test_a_start_missed_beyond_the_grace_period_waits_for_the_next_night(tmp_path, clock):
    path = config_file(tmp_path, schedule="30 2 * * *", timezone="Europe/Warsaw", misfire_grace_seconds=600)
    config = load_config(path, environ={})
    clock.now = dt.datetime(2026, 1, 15, 2, 0, tzinfo=WARSAW)
    launches = Launches(clock)
    scheduler = started(config, launches)
    try:
        at(clock, scheduler, dt.datetime(2026, 1, 15, 2, 40, 1, tzinfo=WARSAW))  # 601 s late: missed
        assert not launches.wait(0.5)
        assert scheduler.get_job(JOB_ID).next_run_time == dt.datetime(2026, 1, 16, 2, 30, tzinfo=WARSAW)
        at(clock, scheduler, dt.datetime(2026, 1, 16, 2, 39, 59, tzinfo=WARSAW))  # 599 s late: still runs
        assert launches.wait(5)
    finally:
        scheduler.shutdown(wait=True)


def test_missed_nights_are_coalesced_and_only_one_run_at_a_time(tmp_path, clock):
    config = load_config(config_file(tmp_path, schedule="0 2 * * *", misfire_grace_seconds=7 * 86400), environ={})
    clock.now = dt.datetime(2026, 1, 15, 1, 0, tzinfo=dt.UTC)
    release = threading.Event()
    launches = Launches(clock, block=release)
    scheduler = started(config, launches)
    try:
        at(clock, scheduler, dt.datetime(2026, 1, 18, 3, 0, tzinfo=dt.UTC))  # the machine slept three nights
        assert launches.wait(5)
        at(clock, scheduler, dt.datetime(2026, 1, 19, 2, 0, 1, tzinfo=dt.UTC))  # next night, first run still going
        assert not launches.wait(0.5)
        release.set()
        assert not launches.wait(0.5)  # nor do the coalesced nights run after it
        assert len(launches.times) == 1
    finally:
        release.set()
        scheduler.shutdown(wait=True)


def test_the_job_runs_the_pipeline_in_a_child_process_which_records_a_skip(tmp_path):
    path = config_file(tmp_path, min_new_cases=5, output_dir=str(tmp_path / "models"))
    assert launch_nightly(path) == 0
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}", key=load_data_key())
    try:
        with db.read() as session:
            run = session.scalar(select(TrainingRun))
            assert run.status == "skipped"
            assert run.reason == "0 new approved case(s) since the last training; at least 5 needed"
    finally:
        db.dispose()
