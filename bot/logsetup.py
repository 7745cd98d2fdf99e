"""Logging for the service's entry points: the safe filter of :mod:`dermvqa.logsafety`, which masks
the token, the webhook secret and the data keys found in the environment.

httpx logs every request URL at INFO, and the Bot API puts the token in the URL; those loggers are
raised to WARNING, and the filter masks the token in anything that still mentions it, tracebacks
included; exception messages, which can quote a patient, are withheld.
"""

from __future__ import annotations

import logging

from dermvqa.logsafety import configure_logging as configure_safe_logging


def configure_logging(verbose: bool = False) -> None:
    configure_safe_logging(logging.DEBUG if verbose else logging.INFO)
