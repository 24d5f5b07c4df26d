"""`cwsync sandbox serve` and `cwsync demo` as a user runs them: a real process, real sockets."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from typer.testing import CliRunner

from cwsync.cli import sandbox as sandbox_cli
from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from tests.conftest import auth_headers

DEFAULTS = SandboxSettings()


def test_serve_options_default_to_the_emulators_settings() -> None:
    """The CLI spells the emulator's defaults out (it imports the emulator lazily): they must stay the same."""
    names = [n for n in vars(type(sandbox_cli.DEFAULTS)) if not n.startswith("_")]
    assert sorted(names) == ["client_id", "company_id", "private_key", "public_key", "records", "seed"]
    assert {n: getattr(sandbox_cli.DEFAULTS, n) for n in names} == {n: getattr(DEFAULTS, n) for n in names}


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, list[str]]]:
    """Run `cwsync sandbox serve --port 0 ...`; yield its site URL (read from its output) and the lines so far."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cwsync", "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=30)
            seen.append(line)
            if "Ctrl+C" in line:
                break
        site = re.search(r"site\s*│\s*(http://127\.0\.0\.1:\d+)", "".join(seen))
        assert site, seen
        yield site.group(1), seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_prints_credentials_and_answers() -> None:
    """serve prints site, company id, keys and clientId, and the API answers with them."""
    with serving("--records", "100") as (site, output):
        text = "".join(output)
        for value in (DEFAULTS.company_id, DEFAULTS.public_key, DEFAULTS.private_key, DEFAULTS.client_id):
            assert value in text
        info = httpx.get(f"{site}/login/companyinfo/{DEFAULTS.company_id}").json()
        r = httpx.get(f"{site}/{info['Codebase']}apis/3.0/company/companies/count", headers=auth_headers(DEFAULTS))
        assert r.json()["count"] > 0


def test_serve_deny_flag_gives_403() -> None:
    """--deny takes a module away from the API member."""
    with serving("--records", "100", "--deny", "Procurement") as (site, _):
        headers = auth_headers(DEFAULTS)
        root = f"{site}/{DEFAULTS.codebase}apis/3.0"
        assert httpx.get(f"{root}/procurement/catalog", headers=headers).status_code == 403
        assert httpx.get(f"{root}/company/companies", headers=headers).status_code == 200


def test_serve_bad_deny_rule_is_a_usage_error() -> None:
    """A malformed --deny rule is refused with exit 2 and a message, before anything is served."""
    result = CliRunner().invoke(app, ["sandbox", "serve", "--deny", "x:sometimes"])
    assert result.exit_code == 2
    assert "deny" in result.output


def test_serve_port_in_use_is_a_clear_error() -> None:
    """A taken port gives exit 3 and a hint, not a traceback."""
    with serving("--records", "50") as (site, _):
        port = site.rsplit(":", 1)[1]
        result = CliRunner().invoke(app, ["sandbox", "serve", "--port", port, "--records", "10"])
    assert result.exit_code == 3
    assert "cannot listen" in result.output
    assert "Traceback" not in result.output


def test_demo_runs_doctor_against_the_sandbox() -> None:
    """`cwsync demo` (the README's main job) prints the credentials and a passing checklist."""
    result = CliRunner().invoke(app, ["demo", "--records", "200", "--once"])
    assert result.exit_code == 0, result.output
    assert DEFAULTS.company_id in result.output
    assert "checks passed" in result.output
    assert "arrived" in result.output
    assert "not arrived" not in result.output
