"""`cwsync doctor`: one message and one exit code per failure mode (CW-2), through the CLI runner and in-process."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.connectors.connectwise import ConnectWiseSettings
from cwsync.diagnostics.connectwise import ExitCode, run_doctor
from cwsync_sandbox.connectwise.app import Sandbox, create_app
from cwsync_sandbox.server import RunningSandbox
from tests.conftest import BASE

runner = CliRunner()


def _env(served: RunningSandbox, **overrides: str) -> dict[str, str]:
    s = served.sandbox.settings
    env = {
        "CWSYNC_CW_SITE": served.base_url,
        "CWSYNC_CW_COMPANY": s.company_id,
        "CWSYNC_CW_PUBLIC_KEY": s.public_key,
        "CWSYNC_CW_PRIVATE_KEY": s.private_key,
        "CWSYNC_CW_CLIENT_ID": s.client_id,
    }
    env.update(overrides)
    return env


def _doctor(served: RunningSandbox, *args: str, **overrides: str) -> tuple[int, str]:
    result = runner.invoke(app, ["doctor", *args], env=_env(served, **overrides))
    return result.exit_code, result.stdout


def test_all_checks_pass(served: RunningSandbox) -> None:
    """Against a healthy sandbox every check passes and the exit code is 0."""
    code, out = _doctor(served)
    assert code == 0, out
    assert "All" in out
    assert "passed" in out
    assert "Host reachable" in out
    assert "Companies: inquire" in out


def test_json_report(served: RunningSandbox) -> None:
    """--json prints a parseable report with every check and no private key."""
    code, out = _doctor(served, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["ok"] is True
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert served.sandbox.settings.private_key not in out


def test_unreachable_host(served: RunningSandbox) -> None:
    """A host where nothing listens → 'Host reachable' fails, exit 3, later steps skipped."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code, out = _doctor(served, CWSYNC_CW_SITE=f"http://127.0.0.1:{port}")
    assert code == ExitCode.UNREACHABLE
    assert "cannot reach" in out
    assert "Traceback" not in out


def test_unknown_company(served: RunningSandbox) -> None:
    """An unknown company id → exit 4 with a fix naming the login company ID."""
    code, out = _doctor(served, CWSYNC_CW_COMPANY="nosuchco")
    assert code == ExitCode.UNKNOWN_COMPANY
    assert "nosuchco" in out
    assert "company ID" in out


def test_bad_keys(served: RunningSandbox) -> None:
    """A wrong private key → exit 5, pointing at the API member's keys."""
    code, out = _doctor(served, CWSYNC_CW_PRIVATE_KEY="wrong")
    assert code == ExitCode.BAD_KEYS
    assert "API Members" in out
    assert "wrong" not in out


def test_bad_client_id(served: RunningSandbox) -> None:
    """An unregistered clientId → exit 6, pointing at developer.connectwise.com."""
    code, out = _doctor(served, CWSYNC_CW_CLIENT_ID="00000000-0000-0000-0000-000000000000")
    assert code == ExitCode.BAD_CLIENT_ID
    assert "ClientID" in out


def test_missing_permission_names_module(served: RunningSandbox) -> None:
    """A denied module → exit 7; the failure names the module, permission and endpoint."""
    served.sandbox.members[served.sandbox.settings.public_key].deny = ["configurations"]
    code, out = _doctor(served)
    assert code == ExitCode.MISSING_PERMISSION
    assert "Companies > Configurations" in out
    assert "/company/configurations" in out
    assert "Security Roles" in out


def test_missing_write_permission_only(served: RunningSandbox) -> None:
    """A role that may read but not add contacts fails only the add probe."""
    served.sandbox.members[served.sandbox.settings.public_key].deny = ["Contacts:add"]
    code, out = _doctor(served, "--json")
    failed = [c["name"] for c in json.loads(out)["checks"] if c["status"] == "fail"]
    assert code == ExitCode.MISSING_PERMISSION
    assert failed == ["Contacts: add"]


def test_read_only_skips_write_probes(served: RunningSandbox) -> None:
    """--read-only does not probe add/edit (and so passes with write denied)."""
    served.sandbox.members[served.sandbox.settings.public_key].deny = ["Contacts:write"]
    code, out = _doctor(served, "--read-only", "--json")
    assert code == 0
    assert not [c for c in json.loads(out)["checks"] if c["name"].endswith((": add", ": edit"))]


def test_probes_write_nothing(served: RunningSandbox) -> None:
    """The write probes leave no record behind."""
    before = {e: served.sandbox.store.live_count(e) for e in ("companies", "contacts", "callbacks", "time_entries")}
    code, _ = _doctor(served)
    assert code == 0
    after = {e: served.sandbox.store.live_count(e) for e in before}
    assert after == before


@pytest.mark.parametrize("site", ["ht!tp://bad", "na.myconnectwise.net:99999"])
def test_bad_site_exit_2(served: RunningSandbox, site: str) -> None:
    """A malformed site → exit 2 with a message, no traceback."""
    code, out = _doctor(served, CWSYNC_CW_SITE=site)
    assert code == ExitCode.BAD_SETTINGS
    assert "site" in out.lower()
    assert "Traceback" not in out


def test_missing_option_is_a_usage_error() -> None:
    """Without settings, doctor says which options are missing."""
    result = runner.invoke(app, ["doctor"], env={})
    assert result.exit_code == 2
    assert "--site" in result.output
    assert "--config" in result.output


async def test_run_doctor_in_process(sandbox: Sandbox) -> None:
    """run_doctor reports through on_check as it goes, with the ASGI transport as the I/O seam."""
    seen: list[str] = []
    s = sandbox.settings
    settings = ConnectWiseSettings(
        site=BASE, company_id=s.company_id, public_key=s.public_key, private_key=s.private_key, client_id=s.client_id
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)))
    report = await run_doctor(settings, http=http, on_check=lambda c: seen.append(c.name))
    assert report.ok
    assert seen == [c.name for c in report.checks]
    assert seen[:4] == ["Host reachable", "Company known", "API keys valid", "clientId accepted"]


async def test_host_that_is_not_connectwise() -> None:
    """A web server that is not ConnectWise fails 'Host reachable' (exit 3) and says so."""
    from starlette.applications import Starlette

    settings = ConnectWiseSettings(site=BASE, company_id="c", public_key="p", private_key="k", client_id="x")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette()))
    report = await run_doctor(settings, http=http)
    assert report.exit_code == ExitCode.UNREACHABLE
    assert report.checks[0].status == "fail"
    assert "ConnectWise" in report.checks[0].detail
    assert [c.status for c in report.checks[1:]] == ["skipped"] * 4


def test_doctor_from_config_checks_hubspot_too(served: RunningSandbox, tmp_path: Path) -> None:
    """With --config, doctor checks ConnectWise and the HubSpot token and scopes; a scope-less token fails (exit 7)."""
    config = tmp_path / "cwsync.yaml"
    runner.invoke(app, ["init", str(config), "--sandbox", "--sandbox-url", served.base_url])
    result = runner.invoke(app, ["doctor", "--config", str(config), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.stdout
    names = [c["name"] for c in report["checks"]]
    assert names[-4:] == [
        "HubSpot token valid",
        "HubSpot scopes",
        "HubSpot mappings fit the schemas",
        "Store reachable",
    ]
    assert report["checks"][-2]["status"] == "ok"
    assert served.hubspot is not None
    token = served.hubspot.settings.token
    served.hubspot.tokens[token] = ["crm.objects.companies.read"]
    result = runner.invoke(app, ["doctor", "--config", str(config)])
    assert result.exit_code == ExitCode.MISSING_PERMISSION
    assert "crm.objects.contacts.read" in result.stdout


def test_doctor_from_a_bad_config_names_the_line(tmp_path: Path) -> None:
    """A broken configuration given to doctor is reported with file and line, exit 2."""
    config = tmp_path / "cwsync.yaml"
    config.write_text("version: 1\nconnections:\n  connectwise:\n    site: x\n")
    result = runner.invoke(app, ["doctor", "--config", str(config)])
    assert result.exit_code == ExitCode.BAD_SETTINGS
    assert f"{config}:3" in result.stdout


def test_doctor_finds_a_mapping_the_schemas_refuse(served: RunningSandbox, tmp_path: Path) -> None:
    """#13.10: a date custom field mapped into a number property fails doctor's schema check, naming the line."""
    config = tmp_path / "cwsync.yaml"
    runner.invoke(app, ["init", str(config), "--sandbox", "--sandbox-url", served.base_url])
    text = config.read_text(encoding="utf-8")
    marker = "      companies:\n"
    start = text.index(marker) + len(marker)
    added = "        fields: {add: [{connectwise: customFields/Onboarded, hubspot: numberofemployees}]}\n"
    config.write_text(text[:start] + added + text[start:], encoding="utf-8")
    result = runner.invoke(app, ["doctor", "--config", str(config), "--json"])
    report = json.loads(result.stdout)
    [check] = [c for c in report["checks"] if c["name"] == "HubSpot mappings fit the schemas"]
    assert check["status"] == "fail", check
    assert "cannot store a date in a number property" in check["detail"]
    assert f"{config}:" in check["detail"]
    assert result.exit_code != 0


def test_doctor_public_url_fails_when_nothing_serves_there(served: RunningSandbox, tmp_path: Path) -> None:
    """`--public-url` with no `cwsync serve` behind server.public_url: exit 8 naming the fix (real sockets)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free, and closed again: nothing listens there
    config = tmp_path / "cwsync.yaml"
    args = ["init", str(config), "--sandbox", "--sandbox-url", served.base_url, "--server-port", str(port)]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["doctor", "--config", str(config), "--public-url", "--json"])
    assert result.exit_code == ExitCode.PUBLIC_URL == 8, result.stdout
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["Public URL answers"]["status"] == "fail"
    assert "cwsync serve" in checks["Public URL answers"]["fix"]
    assert checks["Public URL usable by HubSpot"]["status"] == "skipped"  # the HubSpot sandbox is on loopback
    assert runner.invoke(app, ["doctor", "--public-url"]).exit_code == 2  # it needs --config


async def test_public_url_checks_for_a_real_hubspot() -> None:
    """HubSpot needs a public https URL: plain http or a private address fails; https on a public host passes."""
    from cwsync.diagnostics.public_url import check_public_url

    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={}))) as http:
        hs = "https://api.hubapi.com"
        good = await check_public_url("https://cwsync.example.com/", hubspot_base_url=hs, http=http)
        assert [(c.name, c.status) for c in good] == [
            ("Public URL answers", "ok"),
            ("Public URL usable by HubSpot", "ok"),
        ]
        for url in ("http://cwsync.example.com", "https://10.0.0.5", "https://localhost:8720"):
            checked = await check_public_url(url, hubspot_base_url=hs, http=http)
            assert checked[1].status == "fail", url
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(404))) as http:
        wrong = await check_public_url("https://cwsync.example.com", hubspot_base_url=hs, http=http)
        assert (wrong[0].status, wrong[0].http_status) == ("fail", 404)
