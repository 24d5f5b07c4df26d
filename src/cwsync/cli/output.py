"""Where the command line writes: one Rich console for people, stdout for results, and `--json` mode.

With `--json` anywhere on the command line (`JsonAwareGroup`, the root command), stdout carries JSON only:

- the command's result, as before (`print(json.dumps(...))`);
- or, when it fails, one error object: ``{"error": {"type", "message", "fix", "exit_code"}}`` (the exit code is the
  process's too). Errors raised through `fail` carry their own type and fix; any other failure (a usage error, a
  message a command printed before exiting non-zero) is reported with the text it printed.

Everything meant for people (tables, progress, warnings) goes through `console`, which `--json` sends to stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table
from typer.core import TyperGroup

__all__ = ["JsonAwareGroup", "console", "fail", "json_mode_active", "json_requested"]

console = Console()
"""The console every command prints people's output with (stdout; stderr with `--json`)."""


@dataclass
class _Session:
    """One `--json` invocation: what was printed for people, whether stdout got data, the structured error."""

    text: io.StringIO = field(default_factory=io.StringIO)
    error: dict[str, Any] | None = None
    wrote_stdout: bool = False


_SESSION: _Session | None = None
#: The exception class of usage errors (`typer.BadParameter`'s base): Typer ships its own copy of click.
_USAGE_ERRORS: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def json_mode_active() -> bool:
    """Whether the running command was given `--json`."""
    return _SESSION is not None


def json_requested(args: Sequence[str]) -> bool:
    """`--json` among the options (before a `--`)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def done(result: dict[str, object], as_json: bool, text: str) -> None:
    """A command's result: `result` as JSON with `--json`, else `text` for people."""
    if as_json:
        print(json.dumps(result))
    else:
        console.print(text)


def fail(code: int, message: str, *, fix: str | None = None, kind: str = "Error") -> NoReturn:
    """Stop the command with exit `code`: `message` (and the fix) for people, or the JSON error with `--json`."""
    if _SESSION is not None:
        _SESSION.error = {"type": kind, "message": message, "fix": fix, "exit_code": code}
    label = kind if kind != "Error" else "error"
    text = f"[red]{label}[/red]: {message}" if "\n" not in message else f"[red]{label}[/red]\n{message}"
    console.print(text, soft_wrap=True)  # a file:line or a URL in it stays whole (the terminal wraps it)
    if fix:
        console.print(f"[yellow]fix:[/yellow] {fix}")
    raise typer.Exit(code)


class _Tee(io.TextIOBase):
    """People's output in `--json` mode: to stderr as it comes, and kept for the error message."""

    def __init__(self, keep: io.StringIO, stream: IO[str]) -> None:
        self.keep, self.stream = keep, stream

    def write(self, text: str) -> int:
        self.keep.write(text)
        self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


class _Recording(io.TextIOBase):
    """stdout in `--json` mode: passes everything through and remembers that something was written."""

    def __init__(self, stream: IO[str], session: _Session) -> None:
        self.stream, self.session = stream, session

    def write(self, text: str) -> int:
        if text:
            self.session.wrote_stdout = True
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self.stream.fileno()


@contextlib.contextmanager
def _json_session() -> Iterator[_Session]:
    global _SESSION
    session = _Session()
    stdout = sys.stdout
    _SESSION = session
    sys.stdout = _Recording(stdout, session)
    console.file = cast(IO[str], _Tee(session.text, sys.stderr))
    try:
        yield session
    finally:
        # None: the console follows sys.stdout again (whoever swaps it, e.g. a test runner, is followed)
        sys.stdout, console.file, _SESSION = stdout, None, None  # type: ignore[assignment]


def _error_of(session: _Session, code: int) -> dict[str, Any]:
    if session.error is not None:
        return {**session.error, "exit_code": code}
    lines = [line.rstrip() for line in session.text.getvalue().splitlines() if line.strip()]
    fixes = [line.split("fix:", 1)[1].strip() for line in lines if line.lstrip().startswith("fix:")]
    message = "\n".join(line for line in lines if not line.lstrip().startswith("fix:")) or f"exit code {code}"
    named = _ERROR_NAME.match(message)
    kind = named.group(1) if named else ("ConfigError" if message.startswith("configuration error") else "Error")
    return {"type": kind, "message": message, "fix": fixes[0] if fixes else None, "exit_code": code}


_ERROR_NAME = re.compile(r"^([A-Z][A-Za-z]*(?:Error|Refused))\b")
"""A printed error that starts with its class name (`LayoutError: ...`): the JSON error's `type`."""


class JsonAwareGroup(TyperGroup):
    """The root command: with `--json`, stdout holds JSON only, and a failure is a JSON error object."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not json_requested(argv):
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        code = self._json_main(argv, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _json_main(self, argv: list[str], prog_name: str | None, complete_var: str | None, **extra: Any) -> int:
        with _json_session() as session:
            try:
                result = super().main(argv, prog_name, complete_var, False, **extra)
                code = result if isinstance(result, int) else 0
            except typer.Abort:
                code = 1
            except _USAGE_ERRORS as exc:  # a bad argument or option (Typer's own click)
                code = int(getattr(exc, "exit_code", 2))
                session.error = {
                    "type": type(exc).__name__,
                    "message": exc.format_message(),  # type: ignore[attr-defined]
                    "fix": "see --help for the command's arguments and options",
                    "exit_code": code,
                }
            except Exception as exc:  # an unexpected failure: the traceback to stderr, the error as JSON
                traceback.print_exc(file=sys.stderr)
                session.error = {"type": type(exc).__name__, "message": str(exc), "fix": None, "exit_code": 1}
                code = 1
            if code != 0 and (session.error is not None or not session.wrote_stdout):
                sys.stdout.write(json.dumps({"error": _error_of(session, code)}, indent=2) + "\n")
            sys.stdout.flush()
        return code


class ProgressBars:
    """One Rich progress bar per object of a long command: done/total and ETA once the API's count is known.

    Quiet (nothing drawn) with `--json` and whenever the console is not a terminal (a pipe, a log file, cron).
    Use as a context manager; `advance(name, n)` and `total(name, n)` are safe to call from the command's callbacks.
    """

    def __init__(self, *, quiet: bool = False, unit: str = "records") -> None:
        from rich.progress import (  # here, not at import: `cwsync --help` stays light
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.unit = unit
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or json_mode_active() or not console.is_terminal,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}  # name → Rich task id

    def __enter__(self) -> ProgressBars:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def _task(self, name: str) -> Any:
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=None)
        return self.tasks[name]

    def advance(self, name: str, n: int = 1) -> None:
        """`n` more done of `name`."""
        self.bar.advance(self._task(name), n)

    def total(self, name: str, n: int) -> None:
        """`name` has `n` in all (a count the API gave)."""
        self.bar.update(self._task(name), total=max(n, 1))

    @property
    def enabled(self) -> bool:
        """Whether anything is drawn."""
        return not self.bar.disable


def new_table(*args: Any, **kwargs: Any) -> Table:
    """A Rich table, its module imported only when one is drawn (`cwsync --help` and completion never load it)."""
    from rich.table import Table

    return Table(*args, **kwargs)
