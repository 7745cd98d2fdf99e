"""The nightly schedule: an APScheduler ``BackgroundScheduler`` that starts the learning loop.

``[training] schedule`` (five-field cron, default ``0 2 * * *``) is read in ``[training] timezone``.
One run at a time (``max_instances=1``), missed runs coalesced into one, and a run that could not
start on time (the machine slept, the bot was down) still starts within ``misfire_grace_seconds``,
else it waits for the next night. The job starts ``python -m training.nightly`` in a separate
process and waits for it in the scheduler's thread, so the caller (the bot, from ``dermbot run``)
stays responsive while a model trains; the pipeline itself skips, with the reason recorded, when
too few cases were approved since the last training.

A second job, the retention purge (``dermvqa.casework.purge``), runs at ``[retention] purge_schedule``
(default ``30 3 * * *``) in ``[retention] timezone`` (empty: the training time zone), in this
process, one at a time, coalesced, with ``[retention] misfire_grace_seconds``.

    scheduler = build_scheduler(config, config_path)
    scheduler.start()          # returns at once
    ...
    scheduler.shutdown(wait=False)
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from dermvqa.casework.purge import scheduled_purge
from dermvqa.config import Config, child_environment

logger = logging.getLogger(__name__)

JOB_ID = "nightly-training"
PURGE_JOB_ID = "retention-purge"
ROOT = Path(__file__).resolve().parents[1]


def nightly_command(config_path: str | Path | None) -> list[str]:
    """The command the job runs: this interpreter, the nightly module, the same config file."""
    command = [sys.executable, "-m", "training.nightly", "--trigger", "schedule"]
    if config_path:
        command += ["--config", str(Path(config_path).resolve())]
    return command


def launch_nightly(config_path: str | Path | None) -> int:
    """Run the nightly pipeline in a child process and wait for it; returns its exit status."""
    command = nightly_command(config_path)
    logger.info("starting the nightly training process")
    # The child inherits the environment (DERMBOT_* overrides included) less the bot's secrets, the
    # working folder (relative paths of a default config resolve the same) and our stderr for its logs.
    status = subprocess.run(command, env=child_environment(import_root=ROOT), check=False).returncode
    logger.log(logging.INFO if status == 0 else logging.ERROR, "nightly training process exited with %d", status)
    return status


def trigger_for(config: Config) -> CronTrigger:
    return CronTrigger.from_crontab(config.training.schedule, timezone=config.training.timezone)


def purge_timezone(config: Config) -> str:
    """``[retention] timezone``, else ``[training] timezone``."""
    return config.retention.timezone or config.training.timezone


def purge_trigger_for(config: Config) -> CronTrigger:
    return CronTrigger.from_crontab(config.retention.purge_schedule, timezone=purge_timezone(config))


def build_scheduler(
    config: Config,
    config_path: str | Path | None = None,
    *,
    launch: Callable[[], object] | None = None,
    purge: Callable[[], object] | None = None,
) -> BackgroundScheduler:
    """A scheduler (not started) with the nightly job and the retention purge; ``launch`` replaces the
    child process and ``purge`` the purge (tests)."""
    t = config.training
    scheduler = BackgroundScheduler(timezone=t.timezone)
    scheduler.add_job(
        launch or launch_nightly,
        trigger=trigger_for(config),
        args=() if launch else (config_path,),
        id=JOB_ID,
        name="nightly training",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=t.misfire_grace_seconds,
        replace_existing=True,
    )
    # The retention purge runs in this process, in a thread of the scheduler (short transactions in
    # batches: the bot keeps answering); a failure is logged and the next night tries again.
    scheduler.add_job(
        purge or scheduled_purge,
        trigger=purge_trigger_for(config),
        args=() if purge else (config,),
        id=PURGE_JOB_ID,
        name="retention purge",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=config.retention.misfire_grace_seconds,
        replace_existing=True,
    )
    return scheduler
