"""The console's framework: login and logout, the rate limit, roles, CSRF on every form, cookies, error pages."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest

from tests.console.conftest import PASSWORD, Console, csrf_of


async def test_login_logout_and_pages(console: Console) -> None:
    """Not logged in: pages send the browser to the login form; the right password opens them; logout ends it."""
    first = await console.http.get("/")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/"
    logged = await console.login()
    assert logged.status_code == 303
    cookie = logged.headers["set-cookie"]
    assert "cwsync_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http on loopback
    page = await console.http.get("/")
    assert page.status_code == 200
    assert "Dashboard" in page.text
    for name in ("hubspot", "hudu", "catalog", "devices", "quotes", "mirror"):  # the registry's, in the nav
        assert f"/runs?integration={name}" in page.text
    assert "Content-Security-Policy" in page.headers
    out = await console.http.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await console.http.get("/")).status_code == 303


async def test_wrong_password_refused_then_rate_limited(console: Console) -> None:
    """A wrong password is refused (401, the form again); after five, even the right one waits (429)."""
    for _ in range(5):
        refused = await console.login(password="not the password")
        assert refused.status_code == 401
        assert "wrong user name or password" in refused.text
    limited = await console.login(password=PASSWORD)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text
    assert (await console.login(name="vic")).status_code == 303  # another user from the same address still may


async def test_secure_cookie_behind_https(console: Console) -> None:
    """Behind a proxy that says https, the session cookie is Secure."""
    page = await console.http.get("/login")
    answer = await console.http.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]


VIEWER_POSTS = {"/login", "/logout", "/tenant", "/plans", "/connections/1/test"}
"""POSTs that save nothing (log in and out, switch tenants, start a dry run, test a connection): viewers may."""


def _post_routes(console: Console) -> list[str]:
    state = console.http._transport.app.state.console  # type: ignore[attr-defined]
    unsafe = {"POST", "PUT", "PATCH", "DELETE"}
    return [re.sub(r"\{[^}]+\}", "1", path) for path, methods in state.routes if methods & unsafe]


async def test_every_form_without_csrf_token_is_refused(console: Console) -> None:
    """Every console POST/PUT/DELETE route refuses a request without the token, or with a wrong one (403)."""
    routes = _post_routes(console)
    assert {"/login", "/logout", "/tenant"} <= set(routes)
    for path in routes:  # before login
        answer = await console.http.post(path, data={"x": "1"})
        assert answer.status_code == 403, path
        assert "security token" in answer.text
    await console.login()
    for path in routes:
        for data in ({"x": "1"}, {"csrf_token": "forged"}):
            answer = await console.http.post(path, data=data)
            assert answer.status_code == 403, (path, data)
            assert "<html" in answer.text
            assert "Traceback" not in answer.text


async def test_viewer_cannot_save(console: Console) -> None:
    """A viewer reads every page but every save is refused (403), whatever the route."""
    await console.login(name="vic")
    token = await console.csrf()
    for path in _post_routes(console):
        if path in VIEWER_POSTS:
            continue
        answer = await console.http.post(path, data={"csrf_token": token})
        assert answer.status_code == 403, path
        assert "Read-only" in answer.text
    switched = await console.http.post("/tenant", data={"csrf_token": token, "tenant": "default"})
    assert switched.status_code == 303  # looking at another tenant is not a save


async def test_error_pages_are_html_without_traceback(console: Console) -> None:
    """An unknown tenant, a POST without a session: HTML pages with the status."""
    await console.login()
    token = await console.csrf()
    unknown = await console.http.post("/tenant", data={"csrf_token": token, "tenant": "nobody"})
    assert unknown.status_code == 404
    assert "Unknown tenant" in unknown.text
    async with httpx.AsyncClient(transport=console.http._transport, base_url="http://console.test") as other:
        answer = await other.post("/tenant", data={"csrf_token": token, "tenant": "default"})
        assert answer.status_code == 403  # another browser has no session: its token is not the session's


async def test_an_unknown_page_is_the_consoles_not_found_page_and_api_paths_stay_json(console: Console) -> None:
    """A browser asking for a page that does not exist gets the console's HTML 404 with the navigation; the REST
    API's unknown paths and its own 404s keep their JSON answers."""
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    anonymous = await console.http.get("/no/such/page", headers=browser)
    assert anonymous.status_code == 404
    assert anonymous.headers["content-type"].startswith("text/html")
    assert "Page not found" in anonymous.text
    await console.login()
    page = await console.http.get("/no/such/page", headers=browser)
    assert page.status_code == 404
    assert "Page not found" in page.text
    assert 'href="/runs"' in page.text  # the navigation of a logged-in user
    assert "Traceback" not in page.text
    auth = {"Authorization": "Bearer console-test-api-token"}
    for path in ("/api/no-such-route", "/api/runs/999999"):
        answer = await console.http.get(path, headers={**browser, **auth})
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/json"), path
        assert "detail" in answer.json(), path
    wanted_json = await console.http.get("/no/such/page", headers={"Accept": "application/json"})
    assert wanted_json.status_code == 404
    assert wanted_json.json() == {"detail": "Not Found"}


async def test_first_run_message(console: Console) -> None:
    """With no user, the login page says how to add the first one."""
    for user in await console.users.list():
        await console.users.remove(user.username)
    page = await console.http.get("/login")
    assert "cwsync users add" in page.text


async def test_docs_declare_the_bearer_scheme_and_list_no_page(console: Console) -> None:
    """/docs' OpenAPI document has the bearer scheme on the API routes (Authorize works), and no console page."""
    spec = (await console.http.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <server.api_token>` (every /api route but /api/health)",
    }
    assert spec["paths"]["/api/runs"]["get"]["security"] == [{"bearer": []}]
    assert not [p for p in spec["paths"] if p in ("/", "/login", "/connections", "/runs", "/plans")]
    docs = await console.http.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()


async def test_connections_save_keeps_comments_and_seals_the_secret(console: Console) -> None:
    """Saving ConnectWise writes the plain fields to the file (its comments kept) and the private key to the store
    (the file names it); the page then says "set" and never shows it."""
    console.config_path.write_text(
        "# my cwsync\nstore: " + console.server.config.store + "  # the store\n"
        "connections:\n  connectwise:\n    site: old.example\n    company_id: x\n    public_key: p\n"
        "    private_key: ${CW_KEY:-unset}\n    client_id: c\n",
        encoding="utf-8",
    )
    await console.login()
    token = await console.csrf("/connections")
    original = console.server.cw
    s = console.sandbox.settings
    form = {"csrf_token": token, "site": "cw.example", "company_id": s.company_id, "public_key": s.public_key}
    saved = await console.http.post(
        "/connections/connectwise", data={**form, "private_key": "typed-once-1234", "client_id": s.client_id}
    )
    assert saved.status_code == 303
    assert "the running server uses it from its next job" in unquote(saved.headers.get("set-cookie", ""))
    text = console.config_path.read_text(encoding="utf-8")
    assert "# my cwsync" in text
    assert "# the store" in text
    assert "site: cw.example" in text
    assert "${secret:connectwise.private_key}" in text
    assert "typed-once-1234" not in text
    page = await console.http.get("/connections")
    assert 'data-secret-state="connectwise.private_key">set<' in page.text
    assert "typed-once-1234" not in page.text
    reopened = console.server.cw  # the running server's next job uses the new connection, its secret decrypted
    assert "cw.example" in repr(reopened)
    assert console.server.config.connections.connectwise.private_key.get_secret_value() == "typed-once-1234"
    assert reopened is not original
    missing = await console.http.post("/connections/connectwise", data={**form, "site": ""})
    assert missing.status_code == 422  # a required field left empty: refused with the reason, file unchanged
    assert "Site is required" in missing.text
    assert "site: cw.example" in console.config_path.read_text(encoding="utf-8")


async def test_running_run_polls_its_progress_then_stops(console: Console) -> None:
    """A running run's page polls its progress every second (htmx) with the items so far; finished, it stops."""
    from cwsync.store import Counts, RunItem

    store = console.server.store
    run_id = await store.start_run("default", pairs=["contacts"], kind="full", trigger="cli")
    item = RunItem(
        run_id=run_id,
        tenant="default",
        pair="contacts",
        direction="left_to_right",
        action="create",
        status="applied",
        left_id="7",
        right_id="70",
    )
    async with store.transaction() as tx:
        await tx.add_run_items([item])
    await console.login()
    page = await console.http.get(f"/runs/{run_id}")
    assert 'hx-trigger="every 1s"' in page.text
    live = await console.http.get(f"/runs/{run_id}/progress")
    assert "1 records so far" in live.text
    await store.finish_run(run_id, status="succeeded", counts=Counts(created=1))
    done = await console.http.get(f"/runs/{run_id}/progress")
    assert "hx-trigger" not in done.text
    assert "succeeded" in done.text
    record = await console.http.get("/records/connectwise/contacts/7")
    assert record.status_code == 200
    assert f"/runs/{run_id}" in record.text
    missing = await console.http.get("/runs/999999")
    assert missing.status_code == 404
    assert "No such run" in missing.text


async def test_connection_tests_name_what_is_missing(console: Console) -> None:
    """Testing HubSpot or Hudu before they are configured says so with the fix, as a checklist (no 500)."""
    console.config_path.write_text(
        "store: " + console.server.config.store + "\nconnections:\n  connectwise:\n    site: cw.example\n"
        "    company_id: x\n    public_key: p\n    private_key: k\n    client_id: c\n",
        encoding="utf-8",
    )
    await console.login(name="vic")  # testing writes nothing: viewers may
    token = await console.csrf("/connections")
    hubspot = await console.http.post("/connections/hubspot/test", data={"csrf_token": token})
    assert hubspot.status_code == 200
    assert "HubSpot configured" in hubspot.text
    hudu = await console.http.post("/connections/hudu/test", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert hudu.status_code == 200
    assert "<html" not in hudu.text  # htmx gets the checklist alone
    assert "connections.hudu" in hudu.text


async def test_serve_prints_how_to_add_the_first_user(console: Console, capsys: pytest.CaptureFixture[str]) -> None:
    """`serve` says how to add the first user when nobody can log in (and nothing once someone can)."""
    from cwsync.console import announce_first_run

    app = console.http._transport.app  # type: ignore[attr-defined]
    assert not await announce_first_run(app)
    for user in await console.users.list():
        await console.users.remove(user.username)
    assert await announce_first_run(app)
    assert "cwsync users add <name> --role admin -c " in capsys.readouterr().err


async def test_plan_of_nothing_enabled_is_refused_with_the_reason(console: Console) -> None:
    """With no integration switched on, a plan is refused with the reason (an HTML 404), and /plans still lists."""
    await console.login()
    token = await console.csrf("/plans")
    refused = await console.http.post("/plans", data={"csrf_token": token})
    assert refused.status_code == 404
    assert "Nothing to plan" in refused.text
    assert (await console.http.get("/plans/12345")).status_code == 404
