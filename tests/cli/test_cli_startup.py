"""`cwsync --help` and shell completion build the command tree only: no engine, server, client, store or sandbox is
imported (their import is what made them slow; the timing itself is benchmarks/cli_startup.py's, not a test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cwsync.cli import hudu as hudu_cli
from cwsync.config.hudu import DATA_TYPES

#: Third-party packages only the commands' work needs (not pydantic: Typer itself builds its parameters' validators with
#: it, for a subcommand's help and for completion).
HEAVY_PACKAGES = {
    "aiolimiter",
    "aiosqlite",
    "alembic",
    "asyncpg",
    "cryptography",
    "cwsync_sandbox",
    "fastapi",
    "httpx",
    "ruamel",
    "sqlalchemy",
    "starlette",
    "structlog",
    "tenacity",
    "uvicorn",
}

PROBE = """
import json, sys
sys.argv[0] = "cwsync"  # the program name: it names the completion variable (_CWSYNC_COMPLETE)
from cwsync.cli.app import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_modules(*args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The output of a fresh `cwsync ARGS` process and the modules it has loaded when it is done."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, list(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy(modules: list[str]) -> list[str]:
    """The loaded modules of a heavy package, or of cwsync outside its CLI."""
    return [
        m
        for m in modules
        if m.split(".")[0] in HEAVY_PACKAGES
        or (m.startswith("cwsync.") and m != "cwsync.cli" and not m.startswith("cwsync.cli."))
    ]


def test_help_loads_no_engine() -> None:
    output, modules = loaded_modules("--help")
    assert "Usage: cwsync" in output
    assert heavy(modules) == []


@pytest.mark.parametrize("args", [["hudu", "sync", "--help"], ["sandbox", "serve", "--help"], ["changes", "devices"]])
def test_a_subcommands_help_loads_no_engine(args: list[str]) -> None:
    """The root callback runs before a subcommand reads its --help: it configures logging (structlog), nothing more."""
    output, modules = loaded_modules(*args)
    assert "Usage: cwsync" in output
    assert [m for m in heavy(modules) if m != "cwsync.logs" and not m.startswith("structlog")] == []


def test_completion_loads_no_engine() -> None:
    env = {"_CWSYNC_COMPLETE": "complete_bash", "COMP_WORDS": "cwsync sy", "COMP_CWORD": "1"}
    output, modules = loaded_modules(env=env)
    assert output.split() == ["sync"]
    assert heavy(modules) == []


def test_a_command_still_loads_what_it_needs() -> None:
    """The probe sees imports: a command that reads its configuration loads the config package (and fails: no file)."""
    _, modules = loaded_modules("status", "--config", "/nonexistent/cwsync.yaml")
    assert "cwsync.config" in modules
    assert "ruamel.yaml" in modules


def test_hudu_help_names_the_configurations_data_types() -> None:
    """`hudu sync --only`'s help spells the data types out (the configuration is imported lazily): they agree."""
    assert hudu_cli.HELP_DATA_TYPES == DATA_TYPES
