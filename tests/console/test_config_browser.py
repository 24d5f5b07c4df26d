"""The configuration screens in a real browser (the session's one Chromium and `cwsync serve`, `tests/console/live.py`):
map a field and be refused a date → number mapping with the reason, add a value map and see the YAML changed with
its comments kept; match Hudu companies (every exact one, one by hand) and sync; order company types by dragging;
a viewer cannot save and a form without its CSRF token is refused. Screenshots with `CWSYNC_SCREENSHOTS=1`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cwsync.config import load_config
from tests.console.live import CHROMIUM, PRIVATE_KEY, Live, login, shot

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true", reason="no chromium"),
]


def _comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line and "${" not in line]


@pytest.fixture(scope="module")
def connected(live: Live) -> Iterator[Live]:
    """The ConnectWise key stored (as the Connections screen does, when its test has not run first)."""
    cli = [sys.executable, "-m", "cwsync", "secrets"]  # a process: Playwright's loop runs in this thread
    listed = subprocess.run([*cli, "list", "-c", str(live.config)], capture_output=True, text=True, check=True)
    if "connectwise.private_key" not in listed.stdout:
        args = [*cli, "set", "connectwise.private_key", "--stdin", "-c", str(live.config)]
        subprocess.run(args, input=PRIVATE_KEY + "\n", capture_output=True, text=True, check=True)
        live.restart()
    return live


def _saved(page: Any) -> str:
    page.wait_for_selector(".flash")
    text: str = page.locator(".flash").inner_text()
    return text


def test_map_a_field_refuse_a_date_into_a_number_and_add_a_value_map(page: Any, connected: Live) -> None:
    """The inline check refuses a date → number mapping with the reason; a fine mapping and a value map are saved
    into the YAML, every comment kept."""
    before = connected.config.read_text(encoding="utf-8")
    login(page)
    page.goto("/mappings?pair=deals")
    form = page.locator("#add-field")
    form.locator("select[name=connectwise]").select_option("expectedCloseDate")
    form.locator("input[name=hubspot]").fill("amount")
    form.locator("input[name=hubspot]").dispatch_event("change")
    page.wait_for_selector("#check .check-bad")
    reason = page.locator("#check").inner_text()
    assert "HubSpot cannot store a datetime in a number property" in reason
    shot(page, "mappings-refused")
    form.locator("select[name=connectwise]").select_option("name")
    form.locator("input[name=hubspot]").fill("cw_opportunity_title")
    form.locator("input[name=new_property]").check()
    form.locator("input[name=label]").fill("ConnectWise opportunity title")
    page.wait_for_selector("#check .check-ok")
    form.locator("#add-save").click()
    assert "Saved as version" in _saved(page)
    assert 'data-field="cw_opportunity_title"' in page.content()
    shot(page, "mappings")
    page.goto("/mappings/companies/values/lifecyclestage")
    table = page.locator("#value-map")
    rows = table.locator("tbody tr")
    row = next(r for r in rows.all() if r.locator("input[name=cw_value]").input_value() == "Prospect")
    row.locator("select[name=hs_value]").select_option("opportunity")
    page.wait_for_selector("#check .check-ok")
    table.locator("#values-save").click()
    assert "Saved as version" in _saved(page)
    shot(page, "value-map")
    after = connected.config.read_text(encoding="utf-8")
    assert set(_comments(before)) <= set(_comments(after))
    hubspot = load_config(connected.config).syncs.hubspot
    assert hubspot is not None
    assert [a.other for a in hubspot.objects["deals"].fields.add] == ["cw_opportunity_title"]
    assert hubspot.objects["companies"].value_maps["lifecyclestage"]["Prospect"] == "opportunity"


def test_match_hudu_companies_exact_and_by_hand_then_sync(page: Any, connected: Live) -> None:
    """Accept every exact suggestion, match one company by hand, sync it first, then sync everything."""
    hudu = connected.sandbox.hudu
    assert hudu is not None
    box = connected.sandbox.sandbox
    names = [box.store.get("companies", n) for n in range(2, 6)]
    companies = [c for c in names if c is not None and not c.get("deletedFlag")]
    for twin in companies[:2]:
        hudu.state.create_company({"name": str(twin["name"]).upper()})
    by_hand = hudu.state.create_company({"name": "Docs kept by hand"})
    login(page)
    page.goto("/hudu?show=all")
    shot(page, "hudu")
    page.click("#accept-exact")
    assert "exact match" in _saved(page)
    target = companies[2]
    page.goto(f"/hudu?show=all&q={target['identifier']}")
    row = page.locator(f'tr[data-cw-id="{target["id"]}"]')
    row.locator("select[name=kind]").select_option("match")
    row.locator("input[name=hudu_id]").fill(str(by_hand["id"]))
    row.locator("button", has_text="Save").click()
    assert "matched" in _saved(page)
    page.goto(f"/hudu?show=all&q={target['identifier']}")
    page.locator(f'tr[data-cw-id="{target["id"]}"] button', has_text="Sync this company").click()
    assert f"Company {target['id']} synced" in _saved(page)
    page.goto("/hudu")
    page.click("#hudu-sync-all")
    page.wait_for_selector("#hudu-sync .status-succeeded, #hudu-sync .status-failed", timeout=60_000)
    assert "Hudu sync done" in page.locator("#hudu-sync").inner_text()
    page.goto("/hudu/settings")
    shot(page, "hudu-settings")


def test_order_company_types_by_dragging(page: Any, connected: Live) -> None:
    """Dragging a type above another and saving writes the new order into syncs.catalog (SB-2)."""
    login(page)
    page.goto("/catalog")
    first = page.locator("#priority li").first.get_attribute("data-value")
    page.drag_and_drop('#priority li[data-value="Vendor"]', f'#priority li[data-value="{first}"]')
    order = page.locator("#priority-order").input_value().splitlines()
    assert order.index("Vendor") < order.index(first)
    page.click("#priority-save")
    assert "Saved as version" in _saved(page)
    shot(page, "catalog")
    text = connected.config.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if "company_type_priority" in line)
    assert line.index("Vendor") < line.index(first)


def test_the_other_screens_and_a_viewer_and_csrf(page: Any, connected: Live) -> None:
    """Integrations, filters (with the live count), change management and versions render; a viewer has no edit
    form and a save posted anyway is refused; a form without its CSRF token is refused."""
    login(page)
    for path, name, ready in (
        ("/integrations", "integrations", "#integration-hubspot"),
        ("/filters?pair=companies", "filters", "#filter-count"),
        ("/changes", "changes", "#statuses-form"),
        ("/config/versions", "versions", "#versions"),
    ):
        page.goto(path)
        page.wait_for_selector(ready)
        shot(page, name)
    assert "companies pass" in page.context.request.get("/filters/companies/count").text()
    before = connected.config.read_text(encoding="utf-8")
    refused = page.request.post("/mappings/contacts/direction", form={"field": "email", "value": "->"})
    assert refused.status == 403
    assert "security token" in refused.text()
    page.context.clear_cookies()
    login(page, "vic")
    page.goto("/mappings?pair=contacts")
    assert page.locator("#add-field").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        "/mappings/contacts/direction", form={"csrf_token": token, "field": "email", "value": "->"}
    )
    assert answer.status == 403
    assert "Read-only" in answer.text()
    assert connected.config.read_text(encoding="utf-8") == before
