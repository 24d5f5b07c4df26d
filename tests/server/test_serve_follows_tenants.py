"""`cwsync serve --tenants DIR` follows its directory (#14): a changed tenant file reloads that tenant, a new file
is a new tenant, a removed file a tenant no longer served, and a file that does not load changes nothing. Real
`serve` on loopback, the directory polled every 0.2 s (`CWSYNC_FOLLOW_SECONDS`); every wait polls with a deadline."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.console.conftest import PASSWORD, csrf_of
from tests.scaleout.harness import free_port, healthy, hubspot_only, processes, wait_for, write_tenant


def _edit(port: int, name: str) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        hubspot_only(data)
        data["server"]["public_url"] = f"http://127.0.0.1:{port}/t/{name}"
        data["server"]["api_token"] = f"token-{name}"

    return change


def _pairs(base: str, name: str) -> set[str] | int:
    """The tenant's enabled pairs through its REST API, or the status when it does not answer 200."""
    answer = httpx.get(f"{base}/t/{name}/api/pairs", headers={"Authorization": f"Bearer token-{name}"}, timeout=5)
    return set(answer.json()) if answer.status_code == 200 else answer.status_code


def _set(path: Path, change: Callable[[Any], None]) -> None:
    yaml = YAML()
    data = yaml.load(path.read_text(encoding="utf-8"))
    change(data)
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out)


def test_serve_follows_its_tenants_directory(tmp_path: Path) -> None:
    """acme changed (deals off) is reloaded; initech added is served (API and console); a broken initech keeps what
    it had; a file breaking the deployment's rules is not served; globex removed answers 404 (API and console)."""
    directory, store, port = tmp_path / "tenants", f"sqlite:///{tmp_path / 'store.db'}", free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        running_sandbox(SandboxSettings(records=20, seed=3)) as one,
        running_sandbox(SandboxSettings(records=20, seed=5)) as other,
        processes() as procs,
    ):
        for name, box in (("acme", one), ("globex", other)):
            write_tenant(directory, name, box, store, edit=_edit(port, name))
        spare = tmp_path / "spare"
        write_tenant(spare, "initech", one, store, edit=_edit(port, "initech"))
        added = CliRunner().invoke(
            app, ["users", "add", "ann", "--password-stdin", "-c", str(directory / "acme.yaml")], input=PASSWORD
        )
        assert added.exit_code == 0, added.stdout
        log = tmp_path / "serve.log"
        procs.env["CWSYNC_FOLLOW_SECONDS"] = "0.2"
        proc = procs.start("serve", "--tenants", str(directory), "--port", str(port), "--no-schedule", log=log)
        wait_for(lambda: healthy(base, proc, log), "cwsync serve --tenants to answer")
        assert _pairs(base, "acme") == {"companies", "contacts", "deals"}
        assert _pairs(base, "initech") == 404

        _set(directory / "acme.yaml", lambda d: d["syncs"]["hubspot"]["objects"]["deals"].update(enabled=False))
        wait_for(lambda: _pairs(base, "acme") == {"companies", "contacts"}, "acme reloaded without deals", 30)

        shutil.copy(spare / "initech.yaml", directory / "initech.yaml")
        wait_for(lambda: _pairs(base, "initech") == {"companies", "contacts", "deals"}, "initech served", 30)
        http = httpx.Client(base_url=base, timeout=5)
        form = http.get("/login")
        data = {"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/"}
        assert http.post("/login", data=data).status_code == 303
        page = http.get("/t/initech/")
        assert page.status_code == 200
        assert '<option value="initech" selected>initech</option>' in page.text

        (directory / "initech.yaml").write_text("version: 1\nconnections: [\n", encoding="utf-8")
        wait_for(lambda: "tenant.reload_refused" in log.read_text(), "the broken file to be refused", 30)
        assert _pairs(base, "initech") == {"companies", "contacts", "deals"}  # it keeps what it had

        rogue = directory / "rogue.yaml"
        shutil.copy(spare / "initech.yaml", rogue)  # holds tenant initech: not its file's name
        wait_for(lambda: "tenant.add_refused" in log.read_text(), "a file breaking the rules to be refused", 30)
        assert "is not its file's name" in log.read_text()
        assert _pairs(base, "rogue") == 404

        (directory / "globex.yaml").unlink()
        wait_for(lambda: _pairs(base, "globex") == 404, "globex no longer served", 30)
        gone = http.get("/t/globex/runs")
        assert gone.status_code == 404
        assert "Unknown tenant" in gone.text
        assert "globex" not in http.get("/t/acme/").text  # nor in the switcher
        assert _pairs(base, "acme") == {"companies", "contacts"}
        proc.send_signal(signal.SIGINT)  # the follower stops with the server: drained, exit 0
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
