"""`cwsync doctor` for ConnectWise Manage (CW-2): a checklist that names what is wrong and how to fix it.

Order matters: each step needs the one before (no host, no codebase; no codebase, no auth ...), so the first
failure stops the chain and later steps are reported as skipped. Permission checks run for every entity the product
uses and name the ConnectWise security module and permission (System > Security Roles) to grant.

Write access is probed without writing anything: an *edit* probe PATCHes record id 0 (a 404 proves the permission,
a 403 its absence) and an *add* probe POSTs a JSON array where an object is expected (a 400 proves it). This relies
on ConnectWise checking the security role before the body and the record, which is UNCONFIRMED but consistent with
every reported 403 (they come back for any body).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any

import httpx

from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.connectwise.discovery import NOT_CONNECTWISE
from cwsync.connectors.http import (
    AuthenticationError,
    ConfigurationError,
    CwsyncApiError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    ValidationError,
)
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings


class ExitCode(IntEnum):
    """What `cwsync doctor` exits with: one code per kind of failure."""

    OK = 0
    UNEXPECTED = 1
    BAD_SETTINGS = 2
    UNREACHABLE = 3
    UNKNOWN_COMPANY = 4
    BAD_KEYS = 5
    BAD_CLIENT_ID = 6
    MISSING_PERMISSION = 7
    PUBLIC_URL = 8


@dataclass(frozen=True, slots=True)
class EntityAccess:
    """An entity the product uses, where its permission lives, and whether cwsync writes to it."""

    label: str
    path: str
    module: str
    permission: str
    add: bool = False
    edit: bool = False


ENTITIES: tuple[EntityAccess, ...] = (
    EntityAccess("Companies", "company/companies", "Companies", "Company Maintenance", add=True, edit=True),
    EntityAccess("Company types", "company/companies/types", "System", "Table Setup"),
    EntityAccess("Company statuses", "company/companies/statuses", "System", "Table Setup"),
    EntityAccess("Contacts", "company/contacts", "Companies", "Contacts", add=True, edit=True),
    EntityAccess("Configurations", "company/configurations", "Companies", "Configurations"),
    EntityAccess("Agreements", "finance/agreements", "Finance", "Agreements"),
    EntityAccess("Opportunities", "sales/opportunities", "Sales", "Opportunity", add=True, edit=True),
    EntityAccess("Product catalog", "procurement/catalog", "Procurement", "Product Catalog"),
    EntityAccess("Service tickets", "service/tickets", "Service Desk", "Service Tickets", edit=True),
    EntityAccess("Service boards", "service/boards", "System", "Table Setup"),
    EntityAccess("Members", "system/members", "System", "Member Maintenance"),
    EntityAccess("Schedule entries", "schedule/entries", "Schedule", "Schedule Entries", add=True),
    EntityAccess("Time entries", "time/entries", "Time & Expense", "Time Entry", add=True),
    EntityAccess("Callbacks", "system/callbacks", "System", "Table Setup", add=True, edit=True),
)


@dataclass
class CheckResult:
    """One line of the checklist."""

    name: str
    status: str  # "ok" | "fail" | "skipped"
    detail: str = ""
    fix: str | None = None
    endpoint: str | None = None
    http_status: int | None = None


@dataclass
class DoctorReport:
    """The whole checklist and the exit code it implies."""

    site: str
    company_id: str
    checks: list[CheckResult] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.OK

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return self.exit_code is ExitCode.OK

    def add_hubspot(self, results: list[CheckResult]) -> None:
        """Append HubSpot's checks; a failure sets the matching exit code unless one is set already."""
        self.checks.extend(results)
        failed = [r for r in results if r.status == "fail"]
        if failed and self.exit_code is ExitCode.OK:
            self.exit_code = (
                ExitCode.BAD_KEYS if failed[0].name == "HubSpot token valid" else ExitCode.MISSING_PERMISSION
            )

    def add_public_url(self, results: list[CheckResult]) -> None:
        """Append the public URL's checks (`cwsync.diagnostics.public_url`); a failure is exit 8 unless one is set."""
        self.checks.extend(results)
        if any(r.status == "fail" for r in results) and self.exit_code is ExitCode.OK:
            self.exit_code = ExitCode.PUBLIC_URL

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (`--json`)."""
        return {
            "site": self.site,
            "company_id": self.company_id,
            "ok": self.ok,
            "exit_code": int(self.exit_code),
            "checks": [asdict(c) for c in self.checks],
        }


_NO_OP = [{"op": "replace", "path": "id", "value": 0}]


class _Stop(Exception):
    def __init__(self, code: ExitCode) -> None:
        self.code = code


Progress = Callable[[CheckResult], None]


async def run_doctor(
    settings: ConnectWiseSettings,
    *,
    http: httpx.AsyncClient | None = None,
    entities: tuple[EntityAccess, ...] = ENTITIES,
    check_writes: bool = True,
    on_check: Progress | None = None,
) -> DoctorReport:
    """Run every check against a ConnectWise Manage site and return the report (never raises for API faults)."""
    report = DoctorReport(site=settings.site, company_id=settings.company_id)

    def record(result: CheckResult) -> None:
        report.checks.append(result)
        if on_check:
            on_check(result)

    steps = ["Host reachable", "Company known", "API keys valid", "clientId accepted", "Entity permissions"]
    async with ConnectWiseClient(settings, http=http) as client:
        try:
            await _connection_checks(client, settings, record)
            await _entity_checks(client, entities, check_writes, record)
        except _Stop as stop:
            report.exit_code = stop.code
            done = {c.name for c in report.checks}
            for name in steps:
                if name not in done:
                    record(CheckResult(name, "skipped", "needs the checks above to pass"))
    if report.exit_code is ExitCode.OK and any(c.status == "fail" for c in report.checks):
        report.exit_code = ExitCode.MISSING_PERMISSION
    return report


async def _connection_checks(client: ConnectWiseClient, settings: ConnectWiseSettings, record: Progress) -> None:
    host = settings.site
    try:
        info = await client.company_info()
    except TransportError as exc:
        record(
            CheckResult(
                "Host reachable",
                "fail",
                f"cannot reach {host}: {exc.message}",
                fix="Check the site host (e.g. na.myconnectwise.net or your on-premise host), DNS, proxy and firewall.",
            )
        )
        raise _Stop(ExitCode.UNREACHABLE) from exc
    except ConfigurationError as exc:
        if exc.code == NOT_CONNECTWISE:
            record(CheckResult("Host reachable", "fail", exc.message, fix=exc.hint))
            raise _Stop(ExitCode.UNREACHABLE) from exc
        record(CheckResult("Host reachable", "ok", f"{host} answered"))
        record(
            CheckResult(
                "Company known",
                "fail",
                exc.message,
                fix="Use the company ID you type on the ConnectWise login screen (not the company name).",
                endpoint=f"/login/companyinfo/{settings.company_id}",
            )
        )
        raise _Stop(ExitCode.UNKNOWN_COMPANY) from exc
    except CwsyncApiError as exc:
        record(CheckResult("Host reachable", "fail", f"{host} answered with an error: {exc.message}"))
        raise _Stop(ExitCode.UNREACHABLE) from exc
    record(CheckResult("Host reachable", "ok", f"{host} answered"))
    record(CheckResult("Company known", "ok", f"{info.company_name}, codebase {info.codebase}"))
    await _auth_checks(client, record)


async def _auth_checks(client: ConnectWiseClient, record: Progress) -> None:
    try:
        info = await client.system_info()
    except AuthenticationError as exc:
        if (exc.code or "").lower() == "invalidclientid":
            record(CheckResult("API keys valid", "ok", "the keys were accepted"))
            record(
                CheckResult(
                    "clientId accepted",
                    "fail",
                    exc.message,
                    fix="Register the integration at developer.connectwise.com/ClientID and set its clientId.",
                    endpoint="/system/info",
                    http_status=exc.status,
                )
            )
            raise _Stop(ExitCode.BAD_CLIENT_ID) from exc
        record(
            CheckResult(
                "API keys valid",
                "fail",
                exc.message,
                fix=(
                    "Create or check the API member's keys: System > Members > API Members > (member) > API Keys. "
                    "The private key is shown only once; generate a new pair if it was lost."
                ),
                endpoint="/system/info",
                http_status=exc.status,
            )
        )
        raise _Stop(ExitCode.BAD_KEYS) from exc
    except TransportError as exc:
        record(CheckResult("API keys valid", "fail", f"the API did not answer: {exc.message}"))
        raise _Stop(ExitCode.UNREACHABLE) from exc
    record(CheckResult("API keys valid", "ok", f"authenticated; server {info.get('version', '?')}"))
    record(CheckResult("clientId accepted", "ok", "the clientId header was accepted"))


async def _entity_checks(
    client: ConnectWiseClient, entities: tuple[EntityAccess, ...], check_writes: bool, record: Progress
) -> None:
    for entity in entities:
        record(await _probe(entity, "Inquire", client.list_page(entity.path, fields="id", page_size=1)))
        if check_writes and entity.add:
            record(await _probe(entity, "Add", client.request("POST", entity.path, json=[])))
        if check_writes and entity.edit:
            record(await _probe(entity, "Edit", client.request("PATCH", f"{entity.path}/0", json=_NO_OP)))


async def check_reads(client: ConnectWiseClient, labels: Sequence[str]) -> list[CheckResult]:
    """Inquire probes of the entities named by `labels` (`EntityAccess.label`): what an integration will read, each
    failure naming the security module and permission to grant (`cwsync hudu test`)."""
    wanted = [e for e in ENTITIES if e.label in labels]
    return [await _probe(e, "Inquire", client.list_page(e.path, fields="id", page_size=1)) for e in wanted]


async def _probe(entity: EntityAccess, level: str, call: Awaitable[object]) -> CheckResult:
    name = f"{entity.label}: {level.lower()}"
    endpoint = f"/{entity.path}"
    try:
        await call
    except PermissionDeniedError as exc:
        return CheckResult(
            name,
            "fail",
            f"{exc.status} from {endpoint}: {exc.message}",
            fix=(
                f"System > Security Roles > (the API member's role) > {entity.module} > {entity.permission}: "
                f"set {level} Level to All."
            ),
            endpoint=endpoint,
            http_status=exc.status,
        )
    except (NotFoundError, ValidationError):
        pass  # the probe got past the security role: that is the permission we wanted to see
    except CwsyncApiError as exc:
        return CheckResult(name, "fail", f"{exc.status} from {endpoint}: {exc.message}", endpoint=endpoint)
    return CheckResult(name, "ok", f"{entity.module} > {entity.permission}", endpoint=endpoint)


async def check_hubspot(
    settings: HubSpotSettings, *, http: httpx.AsyncClient | None = None, on_check: Progress | None = None
) -> list[CheckResult]:
    """HubSpot's part of the checklist: the token is accepted and has the scopes the sync needs."""
    results: list[CheckResult] = []

    def record(result: CheckResult) -> None:
        results.append(result)
        if on_check:
            on_check(result)

    async with HubSpotClient(settings, http=http) as hs:
        try:
            await hs.check_access()
        except AuthenticationError as exc:
            fix = "Copy the token of the private app again: Settings → Integrations → Private apps → (app) → Auth."
            record(CheckResult("HubSpot token valid", "fail", exc.message, fix=fix, http_status=exc.status))
            return results
        except PermissionDeniedError as exc:
            record(CheckResult("HubSpot token valid", "ok", "the token was accepted"))
            record(CheckResult("HubSpot scopes", "fail", exc.message, fix=exc.hint, http_status=exc.status))
            return results
        except CwsyncApiError as exc:
            record(CheckResult("HubSpot token valid", "fail", f"HubSpot did not answer: {exc.message}", fix=exc.hint))
            return results
    record(CheckResult("HubSpot token valid", "ok", "the token was accepted"))
    record(CheckResult("HubSpot scopes", "ok", "companies, contacts and deals can be read"))
    return results
