"""The console's browser-test fixtures, shared by every browser test module (`tests/console/conftest.py` imports
them): the sandboxes and `cwsync serve` on loopback (`live`, per module: no server thread outlives its module), one
headless Chromium for the session (`browser`: Debian's, through Playwright, no browser download; the browser tests
run last in the session, `conftest.py`, so nothing async runs after it starts), a fresh context per test (`page`),
`login` and `shot` (a PNG of the screen into docs/console/ when `CWSYNC_SCREENSHOTS=1`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.loopback import free_port

PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
PRIVATE_KEY = "ConsoleOnly-PrivKey-7f3a9c"  # the sandbox's key, known only to what is typed into the console
runner = CliRunner()


def _cli(args: Sequence[str], stdin: str | None = None) -> Result:
    """The CLI in a thread of its own: its `asyncio.run` cannot share this thread with the event loop Playwright's
    sync API keeps running while the session's browser is open (the second module's `live` starts after it)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(runner.invoke, app, list(args), input=stdin).result()


def until(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Live:
    """The sandboxes, the configuration, and `cwsync serve` running on them."""

    sandbox: RunningSandbox
    config: Path
    folder: Path
    base: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "CWSYNC_LOG_LEVEL": "info"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cwsync", "serve", "-c", str(self.config), "--no-schedule"],
                stdout=log,
                stderr=log,
                env=env,
            )
        started = time.monotonic()
        try:
            until(self._healthy, "cwsync serve to answer", 90)  # 2 busy cores: start-up has taken 30 s
        except BaseException:
            self.stop()  # not left running after its module
            raise
        print(f"serve answered after {time.monotonic() - started:.1f} s")

    def _healthy(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """What the Connections screen asks for after a change: running syncs pick it up at start."""
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The sandboxes, a configuration whose ConnectWise private key is to be entered in the console, users ann
    (admin) and vic (viewer), and `cwsync serve`."""
    folder = tmp_path_factory.mktemp("console-live")
    settings = SandboxSettings(records=120, seed=6, examples=True, private_key=PRIVATE_KEY)
    with running_sandbox(settings) as sandbox:
        config = folder / "cwsync.yaml"
        port = free_port()
        store = f"sqlite:///{folder / 'cwsync.db'}"
        args = ["init", str(config), "--sandbox", "--sandbox-url", sandbox.base_url, "--store", store]
        made = _cli([*args, "--server-port", str(port)])
        assert made.exit_code == 0, made.stdout
        text = config.read_text(encoding="utf-8")
        text = re.sub(
            r"private_key: .*", "private_key: ${secret:connectwise.private_key}  # entered in the console", text
        )
        text = re.sub(
            r"(\n(\s+)client_id: .*\n)",
            r"\1\2requests_per_minute: null  # the local sandbox: no pacing\n",
            text,
            count=1,
        )
        config.write_text(text, encoding="utf-8")
        for name, role in (("ann", "admin"), ("vic", "viewer")):
            added = _cli(["users", "add", name, "--role", role, "--password-stdin", "-c", str(config)], PASSWORD)
            assert added.exit_code == 0, added.stdout
        running = Live(sandbox, config, folder, f"http://127.0.0.1:{port}", folder / "serve.log")
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per module (Debian's, started with --no-sandbox as root). Playwright's sync API keeps an
    event loop running in this thread while it is open, so a module's browser tests run after its other tests
    (`conftest.py` sorts them) and the browser closes with the module: the test processes (`pytest -n`, a file's
    tests in one process) run other files after it. `live` runs the CLI in a thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(live: Live, browser: object) -> Iterator[object]:
    """A fresh browser context (no cookies) on the console."""
    context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def shot(page: object, name: str) -> None:
    """Save the screen as docs/console/<name>.png when CWSYNC_SCREENSHOTS=1."""
    if os.environ.get("CWSYNC_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def submit(page: object, selector: str) -> None:
    """Click what loads another page (a form's button, a link) and wait until that page has loaded.

    A click returns once the navigation it started has committed, which is before the new page is parsed: a
    non-waiting read then (`count()`, `all_inner_texts()`) may see a half-built page, rows missing.
    """
    page.click(selector)  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def login(page: object, name: str = "ann", password: str = PASSWORD) -> None:
    """Log in through the form; returns with the page it lands on loaded."""
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", name)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    submit(page, "button.primary")


@dataclass
class LiveTenants:
    """`cwsync serve --tenants` of two tenants (acme, globex) on one sandbox; users ann (every tenant) and tess
    (acme only)."""

    base: str
    log: Path


@pytest.fixture(scope="module")
def live_tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTenants]:
    """A tenants directory served on loopback (the CLI in a thread, as `live`)."""
    from ruamel.yaml import YAML

    folder = tmp_path_factory.mktemp("console-tenants")
    directory, port, store = folder / "tenants", free_port(), f"sqlite:///{folder / 'cwsync.db'}"
    with running_sandbox(SandboxSettings(records=20, seed=4)) as sandbox:
        for name in ("acme", "globex"):
            path = directory / f"{name}.yaml"
            made = _cli(["init", str(path), "--sandbox", "--sandbox-url", sandbox.base_url, "--store", store])
            assert made.exit_code == 0, made.stdout
            yaml = YAML()
            data = yaml.load(path.read_text(encoding="utf-8"))
            data["tenant"] = name
            data["syncs"] = {"hubspot": data["syncs"]["hubspot"]}
            data["server"]["public_url"] = f"http://127.0.0.1:{port}/t/{name}"
            data["server"]["api_token"] = f"token-{name}"
            with path.open("w", encoding="utf-8") as out:
                yaml.dump(data, out)
        config = str(directory / "acme.yaml")
        for args in (["ann", "--role", "admin"], ["tess", "--tenant", "acme"]):
            added = _cli(["users", "add", *args, "--password-stdin", "-c", config], PASSWORD)
            assert added.exit_code == 0, added.stdout
        log = folder / "serve.log"
        with log.open("ab") as out:
            args = ["serve", "--tenants", str(directory), "--port", str(port), "--no-schedule"]
            proc = subprocess.Popen([sys.executable, "-m", "cwsync", *args], stdout=out, stderr=out)
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                return httpx.get(f"{base}/livez", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            until(answers, "cwsync serve --tenants to answer", 90)
            yield LiveTenants(base, log)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
