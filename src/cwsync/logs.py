"""Logging set-up for the command line: structlog events to stderr, quiet by default.

Library code only logs events (`log.info("cw.codebase_discovered", codebase=...)`); the CLI decides where they go
and how much is shown (`--log-level` or `CWSYNC_LOG_LEVEL`). Credentials are never part of an event.
"""

from __future__ import annotations

import logging
import sys

import structlog

LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "warning") -> None:
    """Send structlog events at `level` and above to stderr (stdout stays for results and --json)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Resolve sys.stderr per logger, not once: whoever swaps stderr (a test runner, a daemon) is followed.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
