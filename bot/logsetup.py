"""Logging for the service's entry points: the safe filter of :mod:`dermvqa.logsafety`, with the
service's secrets to mask.

httpx logs every request URL at INFO, and the Bot API puts the token in the URL; those loggers are
raised to WARNING, and the filter masks the token (and the webhook secret) in anything that still
mentions them, tracebacks included; exception messages, which can quote a patient, are withheld.
"""

from __future__ import annotations

import logging
import os

from dermvqa.config import DATA_KEY_ENVS, SERVICE_SECRET_ENVS
from dermvqa.logsafety import configure_logging as configure_safe_logging


def configure_logging(verbose: bool = False) -> None:
    secrets = [os.environ.get(name, "").strip() for name in (*SERVICE_SECRET_ENVS, *DATA_KEY_ENVS)]
    configure_safe_logging(logging.DEBUG if verbose else logging.INFO, [s for s in secrets if s])
