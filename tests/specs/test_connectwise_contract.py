"""The ConnectWise emulator's answers, on every route cwsync's client calls, against the spec's schemas
(`tests/specs/connectwise.py`): lists, single records, creates, updates, counts and error bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from cwsync_sandbox.connectwise.app import Sandbox
from tests.specs import connectwise as cw

LISTS: list[tuple[str, type[BaseModel]]] = [
    ("company/companies", cw.Company),
    ("company/companies/types", cw.Reference),
    ("company/companies/statuses", cw.Reference),
    ("company/contacts", cw.Contact),
    ("company/configurations", cw.CompanyConfiguration),
    ("company/configurations/types", cw.Reference),
    ("finance/agreements", cw.Agreement),
    ("finance/agreements/types", cw.AgreementType),
    ("sales/opportunities", cw.Opportunity),
    ("sales/opportunities/statuses", cw.Reference),
    ("procurement/catalog", cw.CatalogItem),
    ("service/boards", cw.Reference),
    ("service/tickets", cw.Ticket),
    ("system/members", cw.Member),
    ("schedule/entries", cw.ScheduleEntry),
    ("time/entries", cw.TimeEntry),
]


@pytest.mark.parametrize(("path", "model"), LISTS, ids=[p for p, _ in LISTS])
async def test_lists_and_records_match_the_spec(raw: httpx.AsyncClient, path: str, model: type[BaseModel]) -> None:
    """Every row of a list page, and one record read by id, validate against the spec's schema."""
    r = await raw.get(path, params={"pageSize": 200})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert rows, f"{path}: nothing to check"
    for row in rows:
        model.model_validate(row)
    one = await raw.get(f"{path}/{rows[-1]['id']}")
    assert one.status_code == 200
    model.model_validate(one.json())
    cw.Count.model_validate((await raw.get(f"{path}/count")).json())


async def test_child_collections_match_the_spec(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """Sites, board statuses, ticket notes and an opportunity's forecast, as cwsync reads them."""
    company = next(i for i in sandbox.store.ids("companies") if sandbox.store._child_ids("sites", i))
    for row in (await raw.get(f"company/companies/{company}/sites")).json():
        cw.CompanySite.model_validate(row)
    statuses = (await raw.get("service/boards/1/statuses")).json()
    assert statuses
    for row in statuses:
        cw.BoardStatus.model_validate(row)
    ticket = next(i for i in sandbox.store.ids("tickets") if sandbox.store._child_ids("ticket_notes", i))
    notes = (await raw.get(f"service/tickets/{ticket}/notes")).json()
    assert notes
    for row in notes:
        cw.ServiceNote.model_validate(row)
    opportunity = next(i for i in sandbox.store.ids("opportunities") if sandbox.store._child_ids("forecast_items", i))
    [forecast] = (await raw.get(f"sales/opportunities/{opportunity}/forecast")).json()
    assert cw.Forecast.model_validate(forecast).forecastItems
    item = forecast["forecastItems"][0]
    cw.ForecastItem.model_validate((await raw.get(f"sales/opportunities/{opportunity}/forecast/{item['id']}")).json())


async def test_writes_answer_spec_shaped_records(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """The creates and updates cwsync sends answer with records of the spec's schemas (201 on POST)."""
    company = await raw.post("company/companies", json={"identifier": "SpecCo", "name": "Spec Co", "city": "Tampa"})
    assert company.status_code == 201
    made = cw.Company.model_validate(company.json())
    patched = await raw.patch(
        f"company/companies/{made.id}", json=[{"op": "replace", "path": "phoneNumber", "value": "555-0100"}]
    )
    assert cw.Company.model_validate(patched.json()).phoneNumber == "555-0100"
    contact = await raw.post("company/contacts", json={"firstName": "Spec", "company": {"id": made.id}})
    assert contact.status_code == 201
    cw.Contact.model_validate(contact.json())
    member = next(sandbox.store.ids("members"))
    opportunity = await raw.post(
        "sales/opportunities",
        json={
            "name": "Spec deal",
            "primarySalesRep": {"id": member},
            "company": {"id": made.id},
            "contact": {"id": contact.json()["id"]},
        },
    )
    assert opportunity.status_code == 201
    cw.Opportunity.model_validate(opportunity.json())
    line = {"forecastDescription": "Spec line", "status": {"id": 1}, "forecastType": "Service", "quantity": 1}
    forecast = await raw.post(
        f"sales/opportunities/{opportunity.json()['id']}/forecast", json={"forecastItems": [line]}
    )
    assert forecast.status_code == 201
    [item] = cw.Forecast.model_validate(forecast.json()).forecastItems
    put = await raw.put(f"sales/opportunities/{opportunity.json()['id']}/forecast/{item.id}", json=line)
    cw.ForecastItem.model_validate(put.json())
    ticket = await raw.post("service/tickets", json={"summary": "Spec ticket", "company": {"id": made.id}})
    assert ticket.status_code == 201
    assert cw.Ticket.model_validate(ticket.json()).closedFlag is False
    note = await raw.post(
        f"service/tickets/{ticket.json()['id']}/notes", json={"text": "hi", "internalAnalysisFlag": True}
    )
    cw.ServiceNote.model_validate(note.json())
    callback = await raw.post(
        "system/callbacks", json={"url": "https://hooks.example/cw", "objectId": 1, "type": "ticket", "level": "owner"}
    )
    assert callback.status_code == 201
    cw.CallbackEntry.model_validate(callback.json())


async def test_info_discovery_and_error_bodies(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """`/system/info`, `/login/companyinfo`, and the ErrorResponseMessage of a 400, 401 and 404."""
    cw.SystemInfo.model_validate((await raw.get("system/info")).json())
    async with httpx.AsyncClient(transport=raw._transport, base_url=sandbox.settings.base_url) as bare:
        info = await bare.get(f"/login/companyinfo/{sandbox.settings.company_id}")
        assert cw.CompanyInfo.model_validate(info.json()).Codebase.endswith("/")
        unauthorized = await bare.get(f"/{sandbox.codebase}apis/3.0/company/companies")
    bodies: list[tuple[int, Any]] = [
        (401, unauthorized),
        (400, await raw.post("company/companies", json={"name": "No identifier"})),
        (404, await raw.get("company/companies/999999")),
        (400, await raw.get("company/companies", params={"pageSize": 5000})),
    ]
    for status, response in bodies:
        assert response.status_code == status
        cw.ErrorResponseMessage.model_validate(response.json())


async def test_the_schemas_can_fail(raw: httpx.AsyncClient) -> None:
    """The schemas refuse what the spec does not allow (the old catalog cycle, a string closedBy, a bare line)."""
    item = (await raw.get("procurement/catalog", params={"conditions": "recurringFlag=true", "pageSize": 1})).json()[0]
    with pytest.raises(ValueError, match="recurringCycleType"):
        cw.CatalogItem.model_validate({**item, "recurringCycleType": "Monthly"})
    opportunity = (await raw.get("sales/opportunities", params={"pageSize": 1})).json()[0]
    with pytest.raises(ValueError, match="closedBy"):
        cw.Opportunity.model_validate({**opportunity, "closedBy": "Admin1"})
    with pytest.raises(ValueError, match="forecastItems"):
        cw.Forecast.model_validate({"id": 1, "forecastDescription": "a line, not a forecast"})
