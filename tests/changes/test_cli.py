"""`cwsync changes ...` through the Typer runner, against the sandbox served on loopback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.server import RunningSandbox
from tests.changes.conftest import HELP_DESK, changes_config
from tests.conftest import auth_headers

runner = CliRunner()


@dataclass
class Cli:
    """A configuration file for the served sandbox, and the ticket the tests link."""

    config: Path
    ticket: int
    http: httpx.Client

    def run(self, *args: str, config: Path | None = None) -> Any:
        """Run `cwsync changes ...` with this configuration."""
        return runner.invoke(app, ["changes", *args, "--config", str(config or self.config)])

    def status(self) -> str:
        """The ticket's status name now."""
        return str(self.http.get(f"service/tickets/{self.ticket}").json()["status"]["name"])


def write_config(path: Path, served: RunningSandbox, store: Path, **changes: Any) -> Path:
    """A configuration file (JSON is YAML) pointing at the served sandbox."""
    s = served.sandbox.settings
    config = {
        "store": f"sqlite:///{store}",
        "connections": {
            "connectwise": {
                "site": served.base_url,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
            }
        },
        "syncs": {"changes": changes_config(**changes)},
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def cli(served_cw: RunningSandbox, tmp_path: Path) -> Any:
    """A member and a Help Desk ticket of company 5 made through the API, and a configuration file."""
    headers = auth_headers(served_cw.sandbox.settings)
    with httpx.Client(base_url=served_cw.sandbox.api_root + "/", headers=headers) as http:
        member = {"identifier": "alice.admin", "firstName": "Alice", "lastName": "Admin"}
        member |= {"primaryEmail": "alice@msp.example", "inactiveFlag": False}
        assert http.post("system/members", json=member).status_code == 201
        statuses = {s["name"]: s["id"] for s in http.get("service/boards/1/statuses").json()}
        ticket = {"summary": "Core switch replacement", "company": {"id": 5}, "board": {"id": 1}}
        ticket |= {"status": {"id": statuses["New"]}, "closedFlag": False}
        created = http.post("service/tickets", json=ticket)
        assert created.status_code == 201
        config = write_config(tmp_path / "cwsync.yaml", served_cw, tmp_path / "cwsync.db")
        yield Cli(config, created.json()["id"], http)


def test_search_link_events_and_show(cli: Cli) -> None:
    """Search finds the ticket; link, approval and scheduling apply; show lists the events, all as JSON."""
    found = cli.run("search", "lighthouse", "switch", "--json")
    assert found.exit_code == 0, found.output
    assert cli.ticket in [t["id"] for t in json.loads(found.stdout)]
    args = ["--change-id", "CHG-9", "--company", "lighthouse", "--ticket", str(cli.ticket)]
    linked = cli.run("link", *args, "--creator", "Alice Admin <alice@msp.example>", "--json")
    assert linked.exit_code == 0, linked.output
    assert json.loads(linked.stdout)["state_after"] == "linked"
    assert cli.status() == HELP_DESK["created"]
    again = cli.run("link", *args, "--creator", "Alice Admin <alice@msp.example>")
    assert again.exit_code == 0
    assert "replayed" in again.stdout
    approved = cli.run("event", "CHG-9", "fully_approved", "--event-id", "e1", "--comment", "CAB ok")
    assert approved.exit_code == 0, approved.output
    assert "wrote: ticket" in approved.stdout
    plan = cli.config.parent / "plan.txt"
    plan.write_text("1. Swap\n2. Test", encoding="utf-8")
    window = ["--start", "2026-03-01T22:00:00Z", "--end", "2026-03-01T23:00:00Z", "--plan", f"@{plan}"]
    scheduled = cli.run("event", "CHG-9", "scheduled", "--event-id", "e2", *window, "--json")
    assert scheduled.exit_code == 0, scheduled.output
    assert {w["what"] for w in json.loads(scheduled.stdout)["writes"]} == {"status", "schedule_entry", "description"}
    assert cli.status() == HELP_DESK["scheduled"]
    shown = cli.run("show", "CHG-9", "--json")
    assert shown.exit_code == 0
    view = json.loads(shown.stdout)
    assert [e["kind"] for e in view["change"]["events"]] == ["created", "fully_approved", "scheduled"]
    assert view["ticket"]["status"] == HELP_DESK["scheduled"]


def test_dry_run_writes_nothing(cli: Cli) -> None:
    """--dry-run lists the writes and leaves the ticket and the store as they were."""
    args = ["--change-id", "CHG-9", "--company", "lighthouse", "--ticket", str(cli.ticket)]
    planned = cli.run("link", *args, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "would write" in planned.stdout
    assert cli.status() == "New"
    assert cli.run("show", "CHG-9").exit_code == 1


def test_refusals_and_bad_input_exit_with_a_message_not_a_traceback(cli: Cli) -> None:
    """Out of order exits 1 naming the reason; a malformed event exits 2 naming the field; no tracebacks."""
    args = ["--change-id", "CHG-9", "--company", "lighthouse", "--ticket", str(cli.ticket)]
    assert cli.run("link", *args).exit_code == 0
    early = cli.run("event", "CHG-9", "completed", "--event-id", "c1", "--results", "done")
    assert early.exit_code == 1
    assert "refused (out_of_order)" in early.output
    assert "Traceback" not in early.output
    missing = cli.run("event", "CHG-9", "scheduled", "--event-id", "s1")
    assert missing.exit_code == 2
    assert "plan" in missing.output
    unknown = cli.run("event", "CHG-404", "cancelled", "--event-id", "x", "--reason", "r")
    assert unknown.exit_code == 1
    assert "unknown_change" in unknown.output


def test_an_unknown_status_is_refused_when_the_config_is_loaded(cli: Cli, served_cw: RunningSandbox) -> None:
    """A status name the board lacks stops every command (exit 2) with the board's valid statuses listed."""
    bad = write_config(
        cli.config.parent / "bad.yaml",
        served_cw,
        cli.config.parent / "bad.db",
        statuses=HELP_DESK | {"scheduled": "Sheduled"},
    )
    result = cli.run("search", "lighthouse", "switch", config=bad)
    assert result.exit_code == 2
    assert "status 'Sheduled' (for scheduled) is not a status of this board" in result.output
    assert "'Scheduled'" in result.output
    assert "'Waiting on Client'" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_to_start_with_an_unknown_status(cli: Cli, served_cw: RunningSandbox) -> None:
    """`cwsync serve` checks the change setup at start: exit 2 with the valid names, before serving anything."""
    bad = write_config(
        cli.config.parent / "bad.yaml",
        served_cw,
        cli.config.parent / "bad.db",
        statuses=HELP_DESK | {"completed": "Done-ish"},
    )
    result = runner.invoke(app, ["serve", "--no-schedule", "--config", str(bad)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert "status 'Done-ish' (for completed) is not a status of this board" in output
    assert "'Completed'" in output
    assert "Traceback" not in output
