"""`cwsync catalog ...` and `cwsync quotes ...` as a user runs them, over real HTTP against the served sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.hubspot import HubSpotSandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.catalog.conftest import CATALOG_SECTION

pytestmark = pytest.mark.loopback
runner = CliRunner()


@pytest.fixture
def served() -> Iterator[RunningSandbox]:
    """Every emulator on loopback: a small MSP in ConnectWise with a 60-item catalog, an empty HubSpot."""
    settings = SandboxSettings(records=300, seed=3, counts={"catalog_items": 60})
    with running_sandbox(settings, hubspot=HubSpotSandboxSettings(rate_limit_per_10s=100_000)) as running:
        yield running


@pytest.fixture
def config(served: RunningSandbox, tmp_path: Path) -> Path:
    """A configuration file for the served sandboxes."""
    s = served.sandbox.settings
    body = {
        "store": f"sqlite:///{tmp_path / 'cwsync.db'}",
        "connections": {
            "connectwise": {
                "site": served.base_url,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
            },
            "hubspot": {"token": HubSpotSandboxSettings().token, "base_url": served.hubspot_url},
        },
        "syncs": {"catalog": CATALOG_SECTION},
    }
    path = tmp_path / "cwsync.yaml"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def cli(*args: str) -> tuple[int, str]:
    """Run a cwsync command; returns exit code and output."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_catalog_sync_plan_then_sync_then_explain(config: Path, served: RunningSandbox) -> None:
    """`--plan` writes nothing, `sync --json` creates the products, `explain` answers for a missing SKU."""
    code, out = cli("catalog", "sync", "--plan", "--json", "-c", str(config))
    assert code == 0, out
    assert json.loads(out)["counts"]["created"] > 0
    assert served.hubspot is not None
    assert served.hubspot.state.records["products"] == {}
    code, out = cli("catalog", "sync", "--json", "-c", str(config))
    assert code == 0, out
    first = json.loads(out)
    assert first["counts"]["created"] == len(served.hubspot.state.records["products"])
    item = next(i for i in first["items"] if i["action"] == "create")
    code, out = cli("catalog", "sync", "--record", str(item["connectwise_id"]), "--json", "-c", str(config))
    assert code == 0, out
    replayed = json.loads(out)  # that one item, read and planned now: unchanged since the sync
    assert {k: v for k, v in replayed["counts"].items() if v} == {"unchanged": 1}
    code, out = cli("catalog", "sync", "--record", "5", "--full", "-c", str(config))
    assert code == 2
    assert "Invalid value for --record" in out
    code, out = cli("catalog", "explain", "NO-SUCH", "-c", str(config))
    assert code == 0
    assert "not in the ConnectWise catalog" in out


def test_quote_submit_refused_then_explained(config: Path, tmp_path: Path) -> None:
    """A quote for an unknown company exits 1 with the reason; `quotes explain` shows the stored refusal."""
    quote = tmp_path / "quote.json"
    body = {
        "external_id": "Q-9",
        "company": "NoSuchCo",
        "contact": "a@b.c",
        "lines": [{"product": "X", "quantity": 1, "price": 1}],
    }
    quote.write_text(json.dumps(body), encoding="utf-8")
    code, out = cli("quotes", "submit", str(quote), "-c", str(config))
    assert code == 1
    assert "unknown_company" in out
    code, out = cli("quotes", "explain", "Q-9", "-c", str(config))
    assert code == 0
    assert "refused: unknown_company" in out
    code, out = cli("history", "-c", str(config))
    assert code == 0, out
