"""The emulator against the contract in shared/reference/connectwise/api-notes.md (raw HTTP, no cwsync client)."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from cwsync_sandbox.connectwise.app import Sandbox, create_app
from tests.conftest import BASE, auth_headers


async def test_companyinfo_returns_codebase_with_string_iscloud(sandbox: Sandbox) -> None:
    """§1: /login/companyinfo/{company} returns Codebase ending in '/' and IsCloud as a string."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.get(f"/login/companyinfo/{sandbox.settings.company_id}")
    body = r.json()
    assert r.status_code == 200
    assert body["Codebase"].endswith("/")
    assert body["IsCloud"] in ("True", "False")
    assert body["CompanyID"] == sandbox.settings.company_id


async def test_companyinfo_unknown_company_is_null(sandbox: Sandbox) -> None:
    """§1: an unknown company gets a JSON null body."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.get("/login/companyinfo/nosuchco")
    assert r.status_code == 200
    assert r.text == "null"


async def test_wrong_codebase_cannot_route(sandbox: Sandbox) -> None:
    """§1: a bad codebase gives the plain-text 'Cannot route' 404."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.get("/v2019_1/apis/3.0/system/info", headers=auth_headers(sandbox.settings))
    assert r.status_code == 404
    assert r.text == "Cannot route. Codebase/company is invalid"


async def test_v4_6_release_codebase_also_works(sandbox: Sandbox) -> None:
    """§1: using v4_6_release/ on cloud also works."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.get("/v4_6_release/apis/3.0/system/info", headers=auth_headers(sandbox.settings))
    assert r.status_code == 200
    assert {"version", "isCloud", "serverTimeZone", "licenseBits"} <= set(r.json())


@pytest.mark.parametrize(
    "user",
    [
        "cwsandbox+SbxPublicKey0001:wrong",
        "othercompany+SbxPublicKey0001:SbxPrivateKey001",
        "cwsandbox+nokey:x",
    ],
)
async def test_bad_credentials_401_with_error_body(raw: httpx.AsyncClient, user: str) -> None:
    """§1/§3: wrong company, public or private key → 401 with an ErrorResponseMessage body."""
    header = "Basic " + base64.b64encode(user.encode()).decode()
    r = await raw.get("company/companies", headers={"Authorization": header})
    assert r.status_code == 401
    assert {"code", "message", "errors"} <= set(r.json())


async def test_missing_client_id_is_refused(raw: httpx.AsyncClient) -> None:
    """§1: clientId is required for all API calls."""
    r = await raw.get("system/info", headers={"clientId": ""})
    assert r.status_code == 401
    assert r.json()["code"] == "InvalidClientId"


async def test_denied_module_answers_403(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """A security role without a module → 403 on that entity only."""
    sandbox.members[sandbox.settings.public_key].deny = ["configurations"]
    assert (await raw.get("company/configurations")).status_code == 403
    assert (await raw.get("company/companies")).status_code == 200


async def test_deny_write_only_keeps_reads(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """A rule with ':write' denies POST/PATCH/DELETE but not GET."""
    sandbox.members[sandbox.settings.public_key].deny = ["Companies/Company Maintenance:write"]
    assert (await raw.get("company/companies/2")).status_code == 200
    r = await raw.post("company/companies", json={"identifier": "X1", "name": "X"})
    assert r.status_code == 403


async def test_default_page_size_is_25_with_link_header(raw: httpx.AsyncClient) -> None:
    """§2.3: default pageSize 25; Link has next and last, no prev on page 1."""
    r = await raw.get("company/contacts")
    assert r.status_code == 200
    assert len(r.json()) == 25
    link = r.headers["link"]
    assert 'rel="next"' in link
    assert 'rel="last"' in link
    assert 'rel="prev"' not in link


async def test_last_page_has_no_next(raw: httpx.AsyncClient) -> None:
    """§2.3: there is no next on the last page; prev and first are there."""
    count = (await raw.get("company/contacts/count")).json()["count"]
    last = -(-count // 10)
    r = await raw.get("company/contacts", params={"pageSize": 10, "page": last})
    assert 'rel="next"' not in r.headers.get("link", "")
    assert 'rel="prev"' in r.headers["link"]
    assert len(r.json()) == count - (last - 1) * 10


async def test_link_urls_end_in_page_after_page_size(raw: httpx.AsyncClient) -> None:
    """The Link URLs keep the filters and end `…pageSize=N&page=M` (page last, as ConnectWise sends them and
    pyconnectwise's `page=(\\d+)>; rel=` parser needs); page 2 has first, prev, next and last."""
    r = await raw.get("company/contacts", params={"page": 2, "pageSize": 10, "conditions": "id > 0"})
    links = {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["link"])}
    assert set(links) == {"first", "prev", "next", "last"}
    for rel, number in (("first", 1), ("prev", 1), ("next", 3)):
        assert links[rel].endswith(f"pageSize=10&page={number}")
        assert "conditions=id+%3E+0" in links[rel]
    assert re.search(r"pageSize=10&page=\d+$", links["last"])
    one = await raw.get("company/contacts", params={"pageSize": 1000})
    assert one.headers["link"].endswith('page=1>; rel="last"')  # one page: last only, no next


@pytest.mark.parametrize("size", ["0", "1001", "5000", "abc"])
async def test_page_size_out_of_range_is_the_real_400(raw: httpx.AsyncClient, size: str) -> None:
    """§2.1: pageSize outside 1..1000 → 400 InvalidObject/OutOfRange naming pageSize."""
    r = await raw.get("company/companies", params={"pageSize": size})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidObject"
    assert body["message"] == "pageSize object is invalid"
    assert body["errors"][0]["code"] == "OutOfRange"
    assert body["errors"][0]["field"] == "pageSize"
    assert "between 1 and 1000" in body["errors"][0]["message"]


async def test_page_size_param_is_case_insensitive(raw: httpx.AsyncClient) -> None:
    """§2.1: lower-case `pagesize` (as some clients send) works."""
    r = await raw.get("company/contacts", params={"pagesize": 7})
    assert len(r.json()) == 7


async def test_forward_only_paging_walks_every_id_once(raw: httpx.AsyncClient) -> None:
    """§2.3: forward-only with pageId returns ids > pageId in order; Link always present; end is an empty page."""
    seen: list[int] = []
    page_id = 0
    while True:
        r = await raw.get(
            "company/contacts",
            params={"pageSize": 40, "pageId": page_id},
            headers={"pagination-type": "forward-only"},
        )
        assert "link" in r.headers
        rows = r.json()
        if not rows:
            break
        assert all(row["id"] > page_id for row in rows)
        seen.extend(row["id"] for row in rows)
        page_id = int(re.search(r"pageId=(\d+)", r.headers["link"]).group(1))  # type: ignore[union-attr]
    count = (await raw.get("company/contacts/count")).json()["count"]
    assert seen == sorted(set(seen))
    assert len(seen) == count


async def test_forward_only_refuses_order_by(raw: httpx.AsyncClient) -> None:
    """§2.3: orderBy is not allowed in forward-only mode."""
    r = await raw.get("company/contacts", params={"orderBy": "lastName"}, headers={"pagination-type": "forward-only"})
    assert r.status_code == 400


async def test_conditions_filter_and_count_agree(raw: httpx.AsyncClient) -> None:
    """§2.2/§2.3: /count takes the same conditions as the list."""
    cond = "company/id = 2 and inactiveFlag = False"
    rows = (await raw.get("company/contacts", params={"conditions": cond, "pageSize": 1000})).json()
    count = (await raw.get("company/contacts/count", params={"conditions": cond})).json()["count"]
    assert count == len(rows)
    assert all(row["company"]["id"] == 2 and not row.get("inactiveFlag") for row in rows)


async def test_last_updated_bare_name_filters_info(raw: httpx.AsyncClient) -> None:
    """§2.2: `lastUpdated` filters on _info/lastUpdated."""
    cut = "2026-06-01T00:00:00Z"
    rows = (
        await raw.get("company/companies", params={"conditions": f"lastUpdated > [{cut}]", "pageSize": 1000})
    ).json()
    assert rows
    assert all(row["_info"]["lastUpdated"] > cut for row in rows)


@pytest.mark.parametrize("bad", ['name = "unterminated', "name = = 1", "(name = 1", "name ~ 1", "name in ()"])
async def test_malformed_conditions_400(raw: httpx.AsyncClient, bad: str) -> None:
    """§2.2: an invalid conditions string → 400 InvalidObject naming the parameter."""
    r = await raw.get("company/companies", params={"conditions": bad})
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidObject"
    assert r.json()["errors"][0]["field"] == "conditions"


async def test_unknown_field_in_conditions_400(raw: httpx.AsyncClient) -> None:
    """A condition on a field the entity does not have is refused, naming the field."""
    r = await raw.get("company/companies", params={"conditions": "nosuchfield = 1"})
    assert r.status_code == 400
    assert "nosuchfield" in r.json()["errors"][0]["message"]


async def test_child_conditions_find_contact_by_email(raw: httpx.AsyncClient) -> None:
    """§5.2: childConditions on communicationItems find a contact by e-mail."""
    contact = (await raw.get("company/contacts/5")).json()
    email = next(i["value"] for i in contact["communicationItems"] if i["communicationType"] == "Email")
    cc = f'communicationItems/value = "{email}" AND communicationItems/communicationType = "Email"'
    rows = (await raw.get("company/contacts", params={"childConditions": cc})).json()
    assert 5 in [row["id"] for row in rows]


async def test_fields_gives_partial_response(raw: httpx.AsyncClient) -> None:
    """§2.1: fields=id,name,status/id returns only those, nested."""
    rows = (await raw.get("company/companies", params={"fields": "id,name,status/id", "pageSize": 3})).json()
    for row in rows:
        assert set(row) <= {"id", "name", "status"}
        assert set(row.get("status", {})) <= {"id"}


async def test_order_by_sorts(raw: httpx.AsyncClient) -> None:
    """§2.1: orderBy name desc sorts by name descending."""
    rows = (await raw.get("company/companies", params={"orderBy": "name desc", "pageSize": 50})).json()
    names = [row["name"].lower() for row in rows]
    assert names == sorted(names, reverse=True)


async def test_post_201_get_put_patch_200_delete_204(raw: httpx.AsyncClient) -> None:
    """§3: POST 201 with the record; PUT/PATCH 200; DELETE 204; then 404."""
    r = await raw.post("service/tickets", json={"summary": "Printer jam", "company": {"id": 2}, "board": {"id": 1}})
    assert r.status_code == 201
    ticket = r.json()
    assert ticket["company"]["id"] == 2
    assert {"lastUpdated", "updatedBy", "dateEntered", "enteredBy"} <= set(ticket["_info"])
    r = await raw.patch(
        f"service/tickets/{ticket['id']}", json=[{"op": "replace", "path": "summary", "value": "Fixed"}]
    )
    assert r.status_code == 200
    assert r.json()["summary"] == "Fixed"
    r = await raw.put(f"service/tickets/{ticket['id']}", json={"summary": "Replaced", "company": {"id": 3}})
    assert r.status_code == 200
    assert "board" not in r.json()
    assert (await raw.delete(f"service/tickets/{ticket['id']}")).status_code == 204
    assert (await raw.get(f"service/tickets/{ticket['id']}")).status_code == 404


async def test_required_fields_give_validation_errors(raw: httpx.AsyncClient) -> None:
    """§3: a POST missing required fields → 400 InvalidObject with one error per field."""
    r = await raw.post("company/companies", json={"name": "No identifier", "city": "Tampa"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidObject"
    assert [e["field"] for e in body["errors"]] == ["identifier"]


async def test_duplicate_identifier_object_exists(raw: httpx.AsyncClient) -> None:
    """§3: a second company with the same identifier → 400 with errors[].code ObjectExists."""
    existing = (await raw.get("company/companies/2")).json()
    r = await raw.post("company/companies", json={"identifier": existing["identifier"], "name": "Dup", "city": "Tampa"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "ObjectExists"


async def test_company_needs_one_address_field(raw: httpx.AsyncClient) -> None:
    """Company POST: at least one of addressLine1, addressLine2, city, state, zip, country (spec 2025.8)."""
    r = await raw.post("company/companies", json={"identifier": "NoAddr1", "name": "No address"})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert (error["code"], error["field"]) == ("NullValue", "addressLine1")
    assert "address" in error["message"]
    for field in ("addressLine2", "zip"):
        r = await raw.post("company/companies", json={"identifier": f"Addr{field}", "name": "A", field: "1"})
        assert r.status_code == 201, r.text
    r = await raw.post("company/companies", json={"identifier": "LongZip", "name": "Z", "zip": "1" * 13})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "zip"


async def test_patch_add_remove_and_unknown_path(raw: httpx.AsyncClient) -> None:
    """§3: PATCH supports add/replace/remove; an unknown (case-sensitive) path is refused."""
    r = await raw.patch("company/companies/3", json=[{"op": "add", "path": "website", "value": "https://x.example"}])
    assert r.json()["website"] == "https://x.example"
    r = await raw.patch("company/companies/3", json=[{"op": "remove", "path": "website"}])
    assert "website" not in r.json()
    r = await raw.patch("company/companies/3", json=[{"op": "replace", "path": "Website", "value": "x"}])
    assert r.status_code == 400


async def test_write_moves_last_updated_and_updated_by(raw: httpx.AsyncClient) -> None:
    """§5.1: a write maintains _info.lastUpdated and updatedBy (the API member)."""
    before = (await raw.get("company/contacts/4")).json()
    after = (await raw.patch("company/contacts/4", json=[{"op": "replace", "path": "title", "value": "CFO"}])).json()
    assert after["_info"]["lastUpdated"] >= before["_info"]["lastUpdated"]
    assert after["_info"]["updatedBy"] == "cwsync-api"
    assert after["_info"]["dateEntered"] == before["_info"]["dateEntered"]


async def test_company_delete_is_soft(raw: httpx.AsyncClient) -> None:
    """§5.2: deleting a company sets deletedFlag; it is still readable."""
    assert (await raw.delete("company/companies/4")).status_code == 204
    r = await raw.get("company/companies/4")
    assert r.status_code == 200
    assert r.json()["deletedFlag"] is True
    rows = (await raw.get("company/companies", params={"conditions": "deletedFlag = True", "pageSize": 1000})).json()
    assert 4 in [row["id"] for row in rows]


async def test_reference_must_exist(raw: httpx.AsyncClient) -> None:
    """A reference to a missing record is a validation error naming the field."""
    r = await raw.post("service/tickets", json={"summary": "x", "company": {"id": 999999}})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "company"


async def test_child_collections(raw: httpx.AsyncClient) -> None:
    """§5.2/§5.7: sites of a company and notes of a ticket are child collections."""
    sites = (await raw.get("company/companies/2/sites")).json()
    assert sites
    assert all(site["company"]["id"] == 2 for site in sites)
    r = await raw.post("service/tickets/3/notes", json={"text": "Called the user", "internalAnalysisFlag": True})
    assert r.status_code == 201
    assert r.json()["ticketId"] == 3
    notes = (await raw.get("service/tickets/3/notes", params={"pageSize": 1000})).json()
    assert r.json()["id"] in [n["id"] for n in notes]


async def test_unknown_entity_404(raw: httpx.AsyncClient) -> None:
    """An unknown path → 404 with an error body."""
    r = await raw.get("company/nosuchthing")
    assert r.status_code == 404
    assert "message" in r.json()


async def test_members_cannot_be_deleted(raw: httpx.AsyncClient) -> None:
    """§5.8: /system/members has no DELETE."""
    assert (await raw.delete("system/members/2")).status_code == 405


async def test_response_headers(raw: httpx.AsyncClient) -> None:
    """§1: responses carry x-cw-request-id and JSON content type."""
    r = await raw.get("system/info")
    assert r.headers["x-cw-request-id"]
    assert r.headers["content-type"].startswith("application/json")


async def test_custom_field_conditions(raw: httpx.AsyncClient) -> None:
    """§2.1: customFieldConditions filter on custom field caption and value."""
    rows = (await raw.get("company/companies", params={"pageSize": 1000})).json()
    tagged = [
        (row["id"], field["caption"], field["value"])
        for row in rows
        for field in row.get("customFields", [])
        if "value" in field and isinstance(field["value"], str)
    ]
    assert tagged, "the generator gives some companies a text custom field"
    record_id, caption, value = tagged[0]
    cfc = f'caption = "{caption}" AND value = "{value}"'
    found = (await raw.get("company/companies", params={"customFieldConditions": cfc, "pageSize": 1000})).json()
    assert record_id in [row["id"] for row in found]
    assert all(any(f["caption"] == caption and f.get("value") == value for f in row["customFields"]) for row in found)


async def test_like_with_wildcard(raw: httpx.AsyncClient) -> None:
    """§2.2: like with * matches prefixes, case-insensitively."""
    first = (await raw.get("company/companies/2")).json()["name"]
    prefix = first[:3].upper()
    rows = (
        await raw.get("company/companies", params={"conditions": f'name like "{prefix}*"', "pageSize": 1000})
    ).json()
    assert 2 in [row["id"] for row in rows]
    assert all(row["name"].lower().startswith(prefix.lower()) for row in rows)


async def test_new_ticket_gets_the_boards_default_status_and_open_flag(raw: httpx.AsyncClient) -> None:
    """A POSTed ticket gets its board's default status and `closedFlag: false`; a board and a status may be named."""
    board = (await raw.get("service/boards/1")).json()
    statuses = (await raw.get("service/boards/1/statuses", params={"pageSize": 100})).json()
    [default] = [s for s in statuses if s["defaultFlag"]]
    r = await raw.post(
        "service/tickets", json={"summary": "By name", "company": {"id": 2}, "board": {"name": board["name"].upper()}}
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["board"]["id"] == 1
    assert (ticket["status"]["id"], ticket["status"]["name"]) == (default["id"], default["name"])
    assert ticket["closedFlag"] is False
    listed = (await raw.get("service/tickets", params={"conditions": f"id={ticket['id']} and closedFlag=false"})).json()
    assert [t["id"] for t in listed] == [ticket["id"]]
    closed = next(s for s in statuses if s["closedStatus"])
    r = await raw.post(
        "service/tickets",
        json={"summary": "Closed", "company": {"id": 2}, "board": {"id": 1}, "status": {"name": closed["name"]}},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["status"]["id"], r.json()["closedFlag"]) == (closed["id"], True)
    r = await raw.post(
        "service/tickets", json={"summary": "X", "company": {"id": 2}, "board": {"name": "No Such Board"}}
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "board"
    r = await raw.post(
        "service/tickets", json={"summary": "X", "company": {"id": 2}, "board": {"id": 1}, "status": {"name": "Nope"}}
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "status"


async def test_forecast_post_takes_and_answers_the_whole_forecast(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """POST …/forecast: body and answer are a `Forecast` (`forecastItems`); items live at …/forecast/{id} (2025.8)."""
    opportunity = next(sandbox.store.ids("opportunities"))
    path = f"sales/opportunities/{opportunity}/forecast"
    [before] = (await raw.get(path)).json()
    assert before["id"] == opportunity
    known = {i["id"] for i in before["forecastItems"]}
    line = {"forecastDescription": "New line", "quantity": 2, "status": {"id": 1}, "forecastType": "Product"}
    r = await raw.post(path, json={"forecastItems": [line]})
    assert r.status_code == 201, r.text
    forecast = r.json()
    assert set(forecast) >= {"id", "forecastItems"}
    [new] = [i for i in forecast["forecastItems"] if i["id"] not in known]
    assert (new["forecastDescription"], new["opportunity"]["id"]) == ("New line", opportunity)
    assert {i["id"] for i in forecast["forecastItems"]} == known | {new["id"]}
    put = await raw.put(f"{path}/{new['id']}", json={**line, "quantity": 3})
    assert (put.status_code, put.json()["id"], put.json()["quantity"]) == (200, new["id"], 3)
    assert "forecastItems" not in put.json()
    assert (await raw.get(f"{path}/{new['id']}")).json()["quantity"] == 3
    assert (await raw.delete(f"{path}/{new['id']}")).status_code == 204
    [after] = (await raw.get(path)).json()
    assert {i["id"] for i in after["forecastItems"]} == known
    r = await raw.post(path, json=line)  # a bare item is not a Forecast
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "forecastItems"
    bad = {**line, "forecastType": "Gadget"}
    r = await raw.post(path, json={"forecastItems": [line, bad]})  # one refused item: none stored
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "forecastType"
    [again] = (await raw.get(path)).json()
    assert {i["id"] for i in again["forecastItems"]} == known
    assert (await raw.get(path, params={"page": 2})).json() == []
    assert (await raw.post("sales/opportunities/999999/forecast", json={"forecastItems": [line]})).status_code == 404


@pytest.mark.parametrize(
    ("param", "value"),
    [("orderBy", "nmae asc"), ("orderBy", "name asc, idd desc"), ("fields", "id,nmae"), ("fields", "id,staus/name")],
)
async def test_unknown_names_in_order_by_and_fields_are_400(raw: httpx.AsyncClient, param: str, value: str) -> None:
    """A typo in an orderBy or fields name is a 400 naming it (UNCONFIRMED, as for conditions), not a silent
    unsorted or empty answer; sub-field paths and the always-valid names pass."""
    r = await raw.get("company/companies", params={param: value})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["field"] == param
    assert "Unknown field" in error["message"]
    ok = await raw.get(
        "company/companies", params={"orderBy": "status/name desc, id", "fields": "id,status/name,_info"}
    )
    assert ok.status_code == 200
    if param == "fields":  # a single record and a create take `fields` too; a refused create writes nothing
        assert (await raw.get("company/companies/2", params={param: value})).status_code == 400
        before = (await raw.get("company/companies/count")).json()["count"]
        body = {"identifier": "F1", "name": "F", "city": "T"}
        assert (await raw.post("company/companies", params={param: value}, json=body)).status_code == 400
        assert (await raw.get("company/companies/count")).json()["count"] == before
