"""Logging set-up for the command line and the server: structlog events to stderr, quiet by default.

Library code only logs events (`log.info("cw.codebase_discovered", codebase=...)`); the CLI decides where they go,
how much is shown (`--log-level` or `CWSYNC_LOG_LEVEL`) and in which format (`--log-format console|json` or
`CWSYNC_LOG_FORMAT`). The standard library's records (uvicorn's access and error logs) go through the same
renderer, so `--log-format json` gives one JSON object per line for everything. docs/logging.md lists the fields.

Secrets never reach a log line: every event and every access-log line passes `Redactor`, which removes the
configured secrets' values (`register_secrets`) and anything secret-looking (a token in a query string or a hook
path, a bearer header, a long random string).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("console", "json")
REDACTED = "[redacted]"

_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[^=&\s\"']*(?:token|secret|key|password|passwd|signature|sig|code|auth|credential)"
    r"[^=&\s\"']*)=)[^&\s\"']+"
)
_HOOK_TOKEN = re.compile(r"(/hooks/connectwise/[^/\s?\"']+/)[^/\s?\"']+")  # the legacy callback URL's token
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_LONG_RANDOM = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}")


class Redactor:
    """Removes secrets from text: the registered values first, then the secret-looking patterns."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def register(self, secrets: Iterable[str]) -> None:
        """Values that must never be logged (short ones are ignored: they would redact ordinary words)."""
        self.values.update(s for s in secrets if len(s) >= 6)

    def text(self, text: str) -> str:
        """`text` with every secret replaced by `[redacted]`."""
        for value in sorted(self.values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        text = _SECRET_PARAM.sub(rf"\1{REDACTED}", text)
        text = _HOOK_TOKEN.sub(rf"\1{REDACTED}", text)
        text = _BEARER.sub(rf"\1 {REDACTED}", text)
        return _LONG_RANDOM.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """A log value with its strings redacted (containers walked)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value

    def processor(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """A structlog processor: every string of the event redacted."""
        for key, item in list(event.items()):
            event[key] = self.value(item)
        return event


REDACTOR = Redactor()


def register_secrets(secrets: Iterable[str]) -> None:
    """Add the configuration's secret values to what every log line is cleaned of."""
    REDACTOR.register(secrets)


class _RedactingFilter(logging.Filter):
    """Cleans a standard-library record (its message and arguments) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # pragma: no cover - a malformed record: leave it to the formatter
            return True
        record.msg, record.args = REDACTOR.text(message), None
        return True


def configure_logging(level: str = "warning", fmt: str = "console") -> None:
    """Send structlog events and standard-library records at `level` and above to stderr, as `fmt`.

    stdout stays for results and --json.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,  # request_id and job_id of the server
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso" if fmt == "json" else "%Y-%m-%d %H:%M:%S", utc=fmt == "json"),
        REDACTOR.processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info if fmt == "json" else _noop, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Resolve sys.stderr per logger, not once: whoever swaps stderr (a test runner, a daemon) is followed.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configure_stdlib(numeric, shared, renderer)


def _noop(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever sys.stderr is when a record is written."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _configure_stdlib(level: int, shared: list[Any], renderer: Any) -> None:
    handler = _StderrHandler()
    handler.set_name("cwsync")
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "cwsync"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def route_uvicorn_logs() -> None:
    """Let uvicorn's records reach the root handler `configure_logging` installed (redacted, in the chosen format).

    For `cwsync serve`, which starts uvicorn with `log_config=None`; other uvicorn servers in the process (the
    sandbox) keep their own handlers.
    """
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
