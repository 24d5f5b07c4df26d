"""`cwsync hudu ...` as a user runs it, over real HTTP against the served sandboxes (ConnectWise and Hudu)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.hudu import HuduSandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.syncs_hudu.conftest import hudu_sync_section

pytestmark = pytest.mark.loopback
runner = CliRunner()


@pytest.fixture
def served() -> Iterator[RunningSandbox]:
    """Every emulator on loopback: a small MSP in ConnectWise, the seeded Hudu instance."""
    with running_sandbox(SandboxSettings(records=300, seed=3), hudu=HuduSandboxSettings(seed=1)) as running:
        yield running


def write_config(path: Path, served: RunningSandbox, **sync: Any) -> Path:
    """A configuration for the served sandboxes; the Hudu key comes from ${HUDU_API_KEY}."""
    s = served.sandbox.settings
    config = {
        "store": f"sqlite:///{path.parent / 'cwsync.db'}",
        "connections": {
            "connectwise": {
                "site": served.base_url,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
            },
            "hudu": {"base_url": served.hudu_url, "api_key": "${HUDU_API_KEY}", "requests_per_minute": 5000},
        },
        "syncs": {"hudu": hudu_sync_section(**sync)},
    }
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run a cwsync command; returns exit code and output."""
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def config(served: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The configuration file, with the Hudu key in the environment."""
    assert served.hudu is not None
    monkeypatch.setenv("HUDU_API_KEY", served.hudu.settings.api_key)
    served.hudu.tune({"rate_limit_per_minute": 5000})
    return write_config(tmp_path / "cwsync.yaml", served)


def test_missing_layout_is_reported_with_the_valid_ones(served: RunningSandbox, tmp_path: Path, config: Path) -> None:
    """`hudu test` names a missing layout and lists the valid ones (exit 1, no traceback)."""
    layouts = {**hudu_sync_section()["layouts"], "agreements": "Contracts"}  # the sandbox has no such layout
    bad = write_config(tmp_path / "bad.yaml", served, create_missing_layouts=False, layouts=layouts)
    code, out = cli("hudu", "test", "-c", str(bad))
    assert code == 1, out
    assert "'Contracts'" in out
    assert "'Agreements'" in out  # among the valid ones
    assert "Valid layouts" in out
    assert "Traceback" not in out
    code, out = cli("hudu", "test", "-c", str(bad), "--create-layouts", "--json")
    assert code == 0, out
    assert "Contracts" in json.loads(out)["layouts"]


def test_wrong_key_is_a_clear_error(served: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused Hudu key is exit 1 with the reason, not a traceback."""
    monkeypatch.setenv("HUDU_API_KEY", "not-the-key")
    code, out = cli("hudu", "test", "-c", str(write_config(tmp_path / "c.yaml", served)))
    assert code == 1, out
    assert "AuthenticationError" in out
    assert "Traceback" not in out


def test_match_plan_sync_resync_explain(served: RunningSandbox, config: Path) -> None:
    """match --auto/--set/interactive, sync --plan writes nothing, sync, a no-op re-sync, --only, explain."""
    assert served.hudu is not None
    state = served.hudu.state
    twin = state.create_company({"name": "SAGEBRUSH VETERINARY HOSPITAL"})  # CW 3, auto-matched by name
    code, out = cli("hudu", "match", "-c", str(config), "--auto", "--set", "7=create", "--json")
    assert code == 0, out
    decided = {s["connectwise_id"]: s["decision"] for s in json.loads(out)}
    assert decided[3] == {"kind": "match", "hudu_id": twin["id"], "by": "auto", "at": decided[3]["at"]}
    assert decided[7]["kind"] == "create"
    code, out = cli("hudu", "match", "-c", str(config), stdin="u\nq\n")  # interactive: first undecided → unmatched
    assert code == 0, out
    assert "1 decision(s) stored" in out

    assets_before = len(state.assets)
    code, out = cli("hudu", "sync", "-c", str(config), "--plan", "--json")
    assert code == 0, out
    planned = json.loads(out)
    assert planned["dry_run"] is True
    assert planned["types"]["configurations"]["counts"]["created"] > 0
    assert len(state.assets) == assets_before

    code, out = cli("hudu", "sync", "-c", str(config), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["counts"]["failed"] == 0
    assert len(state.assets) - assets_before == first["counts"]["created"] - 1  # one company was created, too

    code, out = cli("hudu", "sync", "-c", str(config), "--json")
    again = json.loads(out)
    assert (again["counts"]["created"], again["counts"]["updated"], again["counts"]["linked"]) == (0, 0, 0)
    code, out = cli("hudu", "sync", "-c", str(config), "--only", "configurations", "--json")
    only = json.loads(out)
    assert set(only["types"]) == {"configurations"}
    assert only["types"]["configurations"]["counts"]["unchanged"] > 0

    created = next(i for i in first["types"]["configurations"]["items"] if i["action"] == "create")
    cw_id = created["connectwise_id"]
    code, out = cli("explain", "connectwise", "hudu:configurations", cw_id, "-c", str(config), "--json")
    explained = json.loads(out)
    assert (explained["counterpart"], explained["link"]["hudu_id"]) == ("hudu", str(created["hudu_id"]))
    assert explained["decisions"][-1]["action"] == "create"
    code, out = cli("explain", "hudu", "configurations", str(created["hudu_id"]), "-c", str(config))  # by Hudu id
    assert code == 0, out
    assert f"linked: ConnectWise {cw_id} ↔ Hudu {created['hudu_id']}" in out
    code, out = cli("explain", "hubspot", "hudu:configurations", cw_id, "-c", str(config))
    assert code == 2
    assert "synced with Hudu" in " ".join(out.split()), out
    code, out = cli("history", "-c", str(config), "--json")
    assert "hudu:configurations" in json.loads(out)[0]["objects"]

    code, out = cli("hudu", "sync", "-c", str(config), "--record", f"configurations:{cw_id}", "--json")
    assert code == 0, out
    replayed = json.loads(out)  # that one configuration, read and planned now: unchanged since the sync
    assert set(replayed["types"]) == {"configurations"}
    assert {k: v for k, v in replayed["counts"].items() if v} == {"unchanged": 1}
    code, out = cli("hudu", "sync", "-c", str(config), "--record", "tickets:5")
    assert code == 2
    assert "Invalid value for --record" in out


def test_hudu_test_names_a_missing_read_permission(served: RunningSandbox, config: Path) -> None:
    """#17: with Finance > Agreements denied, `hudu test` does not say "connection successful": exit 7 (as
    `doctor`), naming the module, the permission and where to grant it."""
    served.sandbox.members[served.sandbox.settings.public_key].deny = ["agreements"]
    code, out = cli("hudu", "test", "-c", str(config))
    assert code == 7, out
    assert "connection successful" not in out
    assert "Agreements: inquire" in out
    assert "Finance > Agreements" in out
    assert "Security Roles" in out
    served.sandbox.members[served.sandbox.settings.public_key].deny = []
    code, out = cli("hudu", "test", "-c", str(config), "--json")
    assert code == 0, out
    assert {c["status"] for c in json.loads(out)["permissions"]} == {"ok"}


def test_an_inactive_layout_is_named_as_such(served: RunningSandbox, config: Path) -> None:
    """#17: `--create-layouts` with a layout of that name inactive in Hudu says to activate it (it was a raw 422)."""
    assert served.hudu is not None
    layouts = served.hudu.state.layouts
    agreements = next(i for i, layout in layouts.items() if layout["name"] == "Agreements")
    layouts[agreements]["active"] = False
    code, out = cli("hudu", "test", "-c", str(config), "--create-layouts")
    assert code == 1, out
    text = " ".join(out.split())
    assert "'Agreements' exist in Hudu but are inactive: activate them" in text
    assert "fix: activate the layout in Hudu" in text
    assert "Traceback" not in out
