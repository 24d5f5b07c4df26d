"""No configured secret appears in any log line of a full run (issue 16): every command as a real process, at debug
level, in both log formats, `cwsync serve` taking a real callback, a legacy callback URL with a token in its path,
REST calls with the bearer token and a refused HubSpot webhook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cwsync.config import load_config
from cwsync.config.model import secret_values
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.conftest import auth_headers
from tests.loopback import free_port, wait_for

pytestmark = pytest.mark.loopback
LEGACY_TOKEN = "legacy-callback-token-0042-secret"


def _cwsync(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cwsync", *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert done.returncode == 0, f"cwsync {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _serving(proc: subprocess.Popen[str], url: str) -> bool:
    assert proc.poll() is None, f"cwsync serve exited {proc.returncode}"
    return _answers(url)


def _touch_a_contact(served: RunningSandbox) -> None:
    headers = auth_headers(served.sandbox.settings)
    with httpx.Client(base_url=served.sandbox.api_root + "/", headers=headers) as http:
        ops = [{"op": "replace", "path": "title", "value": "Secrets auditor"}]
        assert http.patch("company/contacts/3", json=ops).status_code == 200


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_configured_secret_reaches_the_logs(tmp_path: Path, log_format: str) -> None:
    port = free_port()
    with running_sandbox(SandboxSettings(records=200, seed=6, examples=True)) as served:
        config = tmp_path / "cwsync.yaml"
        env = {**os.environ, "CWSYNC_LOG_LEVEL": "debug", "CWSYNC_LOG_FORMAT": log_format, "COLUMNS": "200"}
        logs = _cwsync(
            "init", str(config), "--sandbox", "--sandbox-url", served.base_url, "--server-port", str(port), env=env
        )
        text = config.read_text()
        assert "\n  port: " in text
        config.write_text(text.replace("\n  port: ", f"\n  callback_token: {LEGACY_TOKEN}\n  port: ", 1))
        assert load_config(config).server.callback_token is not None
        secrets = [*secret_values(load_config(config)), LEGACY_TOKEN]
        assert len(secrets) >= 6  # CW private key, HubSpot token, Hudu key, API token, HubSpot secret, legacy token
        for command in (
            ["doctor"],
            ["sync"],
            ["hudu", "match", "--auto"],
            ["hudu", "sync"],
            ["catalog", "sync"],
            ["callbacks", "install"],
            ["callbacks", "status", "--json"],
        ):
            logs += _cwsync(*command, "-c", str(config), env=env)
        serve_log = (tmp_path / "serve.log").open("w", encoding="utf-8")  # a file: a full pipe would block it
        serve = subprocess.Popen(
            [sys.executable, "-m", "cwsync", "serve", "-c", str(config), "--no-schedule"],
            stdout=serve_log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _serving(serve, f"{base}/livez"), "cwsync serve")
            _touch_a_contact(served)  # a real, signed callback from the sandbox
            assert served.hubspot is not None
            wait_for(
                lambda: any(
                    r["trigger"] == "callback"
                    for r in httpx.get(
                        f"{base}/api/runs", headers={"Authorization": "Bearer sandbox-api-token-0001"}
                    ).json()
                ),
                "the callback's run",
            )
            legacy = httpx.post(f"{base}/hooks/connectwise/default/{LEGACY_TOKEN}?id=3", content=b"{}")
            assert legacy.status_code == 401  # the legacy URL is served, but a callback still needs its signature
            refused = httpx.post(f"{base}/hooks/hubspot", content=b"[]", headers={"x-hubspot-signature-v3": "x"})
            assert refused.status_code == 401
            assert httpx.get(f"{base}/metrics").status_code == 200
        finally:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
            serve_log.close()
        out = (tmp_path / "serve.log").read_text(encoding="utf-8")
        logs += out
    assert serve.returncode == 0, out[-3000:]
    assert "/hooks/connectwise/default/" in logs  # the access log has the legacy request, redacted
    assert "http.response" in logs  # debug events of the HTTP layer were written
    leaked = [secret for secret in secrets if secret in logs]
    assert leaked == [], f"secrets in the logs: {[s[:4] + '…' for s in leaked]}"
