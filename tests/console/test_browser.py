"""The console in a real browser: headless Chromium (Debian's, no browser download) through Playwright, against
`cwsync serve` as a subprocess on loopback and the sandboxes.

One browser for the session (`tests/console/live.py`); each test opens its own context (cookies) and logs
in. With `CWSYNC_SCREENSHOTS=1` every screen is saved as a PNG into docs/console/ (`scripts/screenshots`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.console.live import CHROMIUM, PRIVATE_KEY, Live, LiveTenants, login, shot, submit, until

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true", reason="no chromium"),
]


def _deny(live: Live, modules: list[str]) -> None:
    key = live.sandbox.sandbox.settings.public_key
    answer = httpx.put(f"{live.sandbox.base_url}/_sandbox/members/{key}/deny", json={"deny": modules})
    assert answer.status_code in (200, 204), answer.text


def test_1_login_wrong_password_refused(page: object) -> None:
    """A wrong password is refused on the form; the right one opens the dashboard, with the registry in the nav."""
    login(page, password="not the password at all")
    assert page.locator("#login-error").inner_text() == "wrong user name or password"  # type: ignore[attr-defined]
    shot(page, "login")
    login(page)
    page.wait_for_selector("#integrations")  # type: ignore[attr-defined]
    assert "hubspot" in page.locator("#integrations").inner_text()  # type: ignore[attr-defined]
    assert page.locator("nav.side").get_by_text("Mappings").count() == 1  # type: ignore[attr-defined]


def test_2_connect_connectwise_and_see_the_checklist(page: object, live: Live) -> None:
    """Enter the ConnectWise connection (the private key only here), test it: every check passes; take a
    permission away in the sandbox and the next test names it with where to grant it."""
    login(page)
    page.goto("/connections")  # type: ignore[attr-defined]
    assert page.locator('[data-secret-state="connectwise.private_key"]').inner_text() == "not set"  # type: ignore[attr-defined]
    form = page.locator("#conn-connectwise form").first  # type: ignore[attr-defined]
    form.locator("input[name=private_key]").fill(PRIVATE_KEY)
    form.locator("button.primary").click()
    page.wait_for_selector(".flash-ok")  # type: ignore[attr-defined]
    assert "the running server uses it from its next job" in page.locator(".flash-ok").inner_text()  # type: ignore[attr-defined]
    assert page.locator('[data-secret-state="connectwise.private_key"]').inner_text() == "set"  # type: ignore[attr-defined]
    assert PRIVATE_KEY not in page.content()  # type: ignore[attr-defined]
    page.locator("#conn-connectwise").get_by_text("Test connection").click()  # type: ignore[attr-defined]
    checklist = page.locator('#checks-connectwise [data-checklist="connectwise"]')  # type: ignore[attr-defined]
    checklist.wait_for()
    assert "checks passed" in checklist.inner_text(), page.locator("#checks-connectwise").inner_text()  # type: ignore[attr-defined]
    shot(page, "connections")
    _deny(live, ["configurations"])
    try:
        page.locator("#conn-connectwise").get_by_text("Test connection").click()  # type: ignore[attr-defined]
        page.wait_for_selector("#checks-connectwise .status-fail")  # type: ignore[attr-defined]
        failed = page.locator("#checks-connectwise .status-fail").first.inner_text()  # type: ignore[attr-defined]
        assert "Configurations" in failed
        assert "fix:" in failed
        assert "Security Roles" in failed or "Companies" in failed
        shot(page, "connections-missing-permission")
    finally:
        _deny(live, [])
    # No restart: the running server took the saved connection for its next job (the sync of test_4 uses it).


def test_3_plan_and_open_an_item_diff(page: object) -> None:
    """Run a dry run of HubSpot from the console; its items are listed and an item's diff opens."""
    login(page)
    page.goto("/plans")  # type: ignore[attr-defined]
    page.select_option("#start-plan select[name=integration]", "hubspot")  # type: ignore[attr-defined]
    submit(page, "#start-plan button")  # a plan done at once is on the page it lands on: its rows parsed
    page.wait_for_selector("#plan-status:text('done')", timeout=30_000)  # type: ignore[attr-defined]
    assert page.locator("#plan-items tr.item").count() > 0  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]  # the filter's choices are the finished plan's actions
    page.select_option("#plan-filter select[name=action]", "create")  # type: ignore[attr-defined]
    submit(page, "#plan-filter button")
    toggle = page.locator("#plan-items details.diff-toggle").first  # type: ignore[attr-defined]
    toggle.locator("summary").click()
    assert toggle.locator("table.diff tr").count() > 1
    shot(page, "plan")


def test_4_sync_find_a_failed_record_and_replay_it(page: object, live: Live) -> None:
    """A HubSpot company without an address fails (ConnectWise refuses it); after Sync now, a search of the run's
    items finds it, its page shows the reason, and Replay queues it again."""
    hs = live.sandbox.hubspot
    assert hs is not None
    token = hs.settings.token
    bare = httpx.post(
        f"{live.sandbox.hubspot_url}/crm/v3/objects/companies",
        json={"properties": {"name": "No Address Console Ltd"}},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    login(page)
    page.goto("/runs")  # type: ignore[attr-defined]
    page.select_option("#sync-now select[name=integration]", "hubspot")  # type: ignore[attr-defined]
    submit(page, "#sync-now button")

    def companies_done() -> bool:
        page.goto("/runs?integration=hubspot")  # type: ignore[attr-defined]
        rows = page.locator("#runs tbody tr").all_inner_texts()  # type: ignore[attr-defined]
        return any("companies" in row and ("succeeded" in row or "failed" in row) for row in rows)

    until(companies_done, "the companies run to finish", 60)
    shot(page, "runs")
    row = page.locator("#runs tbody tr", has_text="companies").first  # type: ignore[attr-defined]
    assert "succeeded" in row.inner_text(), row.inner_text()  # a failed record fails its item, not the run
    row.locator("a").first.click()
    page.fill("#item-search input[name=text]", "address")  # type: ignore[attr-defined]
    page.select_option("#item-search select[name=status]", "failed")  # type: ignore[attr-defined]
    submit(page, "#item-search button")  # the search's answer is a new page: counted once it has loaded
    found = page.locator("#items tr.item")  # type: ignore[attr-defined]
    assert found.count() >= 1, page.locator("#items").inner_text()  # type: ignore[attr-defined]
    shot(page, "run")
    submit(page, f"#items a:text('{bare['id']}')")
    assert "address" in page.locator("#history").inner_text()  # type: ignore[attr-defined]
    shot(page, "record")
    submit(page, "#replay")
    page.wait_for_selector(".flash-ok")  # type: ignore[attr-defined]
    assert "replay" in page.locator(".flash-ok").inner_text()  # type: ignore[attr-defined]
    page.goto("/")  # type: ignore[attr-defined]
    page.wait_for_selector("#callbacks table, #callbacks p:not(:has-text('asking'))")  # type: ignore[attr-defined]
    assert "address" in page.locator("#failing").inner_text()  # type: ignore[attr-defined]
    shot(page, "dashboard")


def test_5_viewer_cannot_save(page: object) -> None:
    """A viewer sees the connections with Save disabled, and a save sent anyway is refused (403)."""
    login(page, "vic")
    page.goto("/connections")  # type: ignore[attr-defined]
    assert page.locator("#conn-connectwise button.primary").is_disabled()  # type: ignore[attr-defined]
    token = page.locator("#conn-connectwise input[name=csrf_token]").first.get_attribute("value")  # type: ignore[attr-defined]
    answer = page.request.post("/connections/connectwise", form={"csrf_token": token, "site": "x"})  # type: ignore[attr-defined]
    assert answer.status == 403
    assert "Read-only" in answer.text()


def test_6_no_secret_anywhere_but_ciphertext(page: object, live: Live) -> None:
    """After the private key was entered in the console: not in any page, API answer, log line, the YAML file or
    the store's files — the store holds only its ciphertext."""
    login(page)
    pages = ["/", "/connections", "/runs", "/plans", "/plans/1", "/mappings", "/dashboard/callbacks"]
    for path in pages:
        page.goto(path)  # type: ignore[attr-defined]
        assert PRIVATE_KEY not in page.content(), path  # type: ignore[attr-defined]
    api = {"Authorization": "Bearer sandbox-api-token-0001"}
    runs = httpx.get(f"{live.base}/api/runs", headers=api).json()
    answers = [
        httpx.get(f"{live.base}{path}", headers=api).text for path in ("/api/runs", "/api/pairs", "/openapi.json")
    ]
    answers += [httpx.get(f"{live.base}/api/runs/{r['run_id']}", headers=api).text for r in runs[:5]]
    answers += [httpx.get(f"{live.base}/metrics").text]
    for text in answers:
        assert PRIVATE_KEY not in text
    assert "${secret:connectwise.private_key}" in live.config.read_text(encoding="utf-8")
    assert PRIVATE_KEY not in live.config.read_text(encoding="utf-8")
    assert PRIVATE_KEY not in live.log.read_text(errors="replace")
    for file in live.folder.iterdir():
        if file.is_file() and file.name != "serve.log":
            assert PRIVATE_KEY.encode() not in file.read_bytes(), file.name
    with sqlite3.connect(live.folder / "cwsync.db") as db:
        [(blob,)] = db.execute("SELECT ciphertext FROM secrets WHERE name = 'connectwise.private_key'").fetchall()
    assert len(blob) > len(PRIVATE_KEY)


def test_7_tenants_each_at_its_address_and_another_users_is_refused(browser: object, live_tenants: LiveTenants) -> None:
    """A tenants directory: tess (acme only) lands on /t/acme/, her switcher lists acme alone, and globex's page
    is the console's 403 page with her navigation; ann switches to globex in the top bar and its address follows."""
    context = browser.new_context(base_url=live_tenants.base)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    try:
        tess = context.new_page()
        login(tess, "tess")
        tess.wait_for_url("**/t/acme/")
        assert tess.locator("select[name=tenant] option").all_inner_texts() == ["acme"]
        answer = tess.goto("/t/globex/runs")
        assert answer.status == 403
        assert "Not your tenant" in tess.locator("main").inner_text()
        assert tess.locator("nav.side a", has_text="Runs").get_attribute("href") == "/t/acme/runs"
        tess.context.clear_cookies()
        login(tess, "ann")
        tess.wait_for_url("**/t/acme/")
        tess.select_option("select[name=tenant]", "globex")  # submits itself
        tess.wait_for_url("**/t/globex/")
        assert tess.locator("select[name=tenant]").input_value() == "globex"
        tess.click("nav.side a:text('Runs')")
        tess.wait_for_url("**/t/globex/runs")
    finally:
        context.close()
