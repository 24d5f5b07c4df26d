"""`cwsync callbacks install | status | repair | remove` against the served sandbox (CW-5)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.server import RunningSandbox

runner = CliRunner()


def _config(served: RunningSandbox, tmp_path: Path) -> Path:
    path = tmp_path / "cwsync.yaml"
    runner.invoke(app, ["init", str(path), "--sandbox", "--sandbox-url", served.base_url])
    return path


def test_install_is_idempotent_and_status_reports(served: RunningSandbox, tmp_path: Path) -> None:
    """install registers one callback per synced object type; again changes nothing; status is ok; remove cleans."""
    config = _config(served, tmp_path)
    result = runner.invoke(app, ["callbacks", "status", "-c", str(config), "--json"])
    assert result.exit_code == 1
    assert {row["status"] for row in json.loads(result.stdout)} == {"missing"}
    first = runner.invoke(app, ["callbacks", "install", "-c", str(config), "--json"])
    assert first.exit_code == 0, first.stdout
    every = ["agreement", "company", "configuration", "contact", "opportunity", "productcatalog"]
    assert sorted(row["type"] for row in json.loads(first.stdout)) == every  # HubSpot, Hudu and the catalog
    count = served.sandbox.store.live_count("callbacks")
    assert count == len(every)
    runner.invoke(app, ["callbacks", "install", "-c", str(config)])
    assert served.sandbox.store.live_count("callbacks") == count
    ok = runner.invoke(app, ["callbacks", "status", "-c", str(config), "--json"])
    assert ok.exit_code == 0
    assert "change-me" not in ok.stdout
    removed = runner.invoke(app, ["callbacks", "remove", "-c", str(config), "--json"])
    assert json.loads(removed.stdout) == {"removed": len(every)}
    assert served.sandbox.store.live_count("callbacks") == 0


def test_no_secret_in_the_callback_url(served: RunningSandbox, tmp_path: Path) -> None:
    """Callbacks need no token: install works without server.callback_token, and the URL holds only the tenant."""
    config = _config(served, tmp_path)
    assert "callback_token" not in config.read_text()
    result = runner.invoke(app, ["callbacks", "install", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    urls = {row["url"] for row in json.loads(result.stdout)}
    assert urls == {"http://127.0.0.1:8720/hooks/connectwise/default?id="}


def test_every_registered_integration_names_its_callback_types(served: RunningSandbox, tmp_path: Path) -> None:
    """The callbacks come from the integration registry: a mirrored ticket table adds the `ticket` callback."""
    from ruamel.yaml import YAML

    from cwsync.cli.callbacks import specs_for
    from cwsync.config import load_config

    path = _config(served, tmp_path)
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["syncs"]["mirror"] = {"objects": ["tickets", "companies"]}
    with path.open("w") as out:
        yaml.dump(data, out)
    types = [spec.type for spec in specs_for(load_config(path))]
    assert sorted(types) == [
        "agreement",
        "company",
        "configuration",
        "contact",
        "opportunity",
        "productcatalog",
        "ticket",
    ]
    assert len(types) == len(set(types))  # `company` is wanted by HubSpot, Hudu and the mirror: one callback
