"""`cwsync serve` as a real process on loopback: a ConnectWise change reaches HubSpot through a real callback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.loopback import free_port, wait_for

runner = CliRunner()


def test_callback_over_real_http_updates_hubspot(tmp_path: Path) -> None:
    """serve + callbacks install + a ConnectWise change → HubSpot updated, measured end to end over sockets."""
    port = free_port()
    with running_sandbox(SandboxSettings(records=200, seed=6, examples=True)) as sandbox:  # as `sandbox serve`
        config = tmp_path / "cwsync.yaml"
        store = f"sqlite:///{tmp_path / 'serve.db'}"
        args = ["init", str(config), "--sandbox", "--sandbox-url", sandbox.base_url, "--store", store]
        assert runner.invoke(app, [*args, "--server-port", str(port)]).exit_code == 0
        assert runner.invoke(app, ["sync", "-c", str(config)]).exit_code == 0
        installed = runner.invoke(app, ["callbacks", "install", "-c", str(config)])
        assert installed.exit_code == 0, installed.stdout
        env = {**os.environ, "CWSYNC_LOG_LEVEL": "warning"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "cwsync", "serve", "-c", str(config), "--no-schedule"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _healthy(base, proc), "the server to start")
            auth = {"Authorization": "Bearer sandbox-api-token-0001"}
            assert httpx.get(f"{base}/api/runs", headers=auth).status_code == 200
            api = sandbox.sandbox.api_root
            headers = _cw_headers(sandbox.sandbox.settings)
            contacts = httpx.get(f"{api}/company/contacts", params={"pageSize": 50}, headers=headers).json()
            contact = next(c for c in contacts if c.get("company") and not c.get("inactiveFlag"))
            started = time.monotonic()
            patch = [{"op": "replace", "path": "title", "value": "Real Time"}]
            r = httpx.patch(f"{api}/company/contacts/{contact['id']}", json=patch, headers=headers)
            assert r.status_code == 200
            wait_for(lambda: _hubspot_title(sandbox, config, contact["id"]) == "Real Time", "HubSpot to change", 30)
            latency = time.monotonic() - started
            assert latency < 30
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _healthy(base: str, proc: subprocess.Popen[str]) -> bool:
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else "serve exited"
    try:
        return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _cw_headers(settings: SandboxSettings) -> dict[str, str]:
    from tests.conftest import auth_headers

    return auth_headers(settings)


def _hubspot_title(sandbox: object, config: Path, contact_id: int) -> str | None:
    result = runner.invoke(app, ["explain", "connectwise", "contacts", str(contact_id), "-c", str(config), "--json"])
    import json

    link = json.loads(result.stdout)["link"]
    if link is None:
        return None
    hs = sandbox.hubspot  # type: ignore[attr-defined]
    token = hs.settings.token
    url = f"{sandbox.hubspot_url}/crm/v3/objects/contacts/{link['hubspot_id']}"  # type: ignore[attr-defined]
    body = httpx.get(url, params={"properties": "jobtitle"}, headers={"Authorization": f"Bearer {token}"}).json()
    return body["properties"].get("jobtitle")  # type: ignore[no-any-return]
