"""Codebase discovery: `GET /login/companyinfo/{company}` says which codebase serves the company's API.

No credentials are needed there (ConnectWise's own clients call it without), so only `clientId` is sent.
Hosted sites change codebase on upgrade, so the client re-runs this when the API stops routing.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cwsync.connectors.connectwise.settings import SiteAddress
from cwsync.connectors.http import ConfigurationError, HttpApi, NotFoundError, TransportError, redact_url

__all__ = ["CompanyInfo", "discover_company"]


class CompanyInfo(BaseModel):
    """What `/login/companyinfo/{company}` says about a company (unknown fields are ignored)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    company_name: str = Field(alias="CompanyName")
    codebase: str = Field(alias="Codebase")
    company_id: str = Field(alias="CompanyID")
    is_cloud: bool = Field(default=False, alias="IsCloud")  # sent as the string "True"/"False"
    site_url: str | None = Field(default=None, alias="SiteUrl")

    @field_validator("codebase")
    @classmethod
    def _codebase_ends_in_slash(cls, value: str) -> str:
        name = value.strip().strip("/")
        if not name or "/" in name:
            raise ValueError(f"unusable codebase {value!r}")
        return f"{name}/"


UNKNOWN_COMPANY = "UnknownCompany"
NOT_CONNECTWISE = "NotConnectWise"


async def discover_company(api: HttpApi, address: SiteAddress, company_id: str, *, client_id: str) -> CompanyInfo:
    """Ask the site which codebase serves `company_id`.

    Raises:
        TransportError: the host did not answer (the hint says what to check).
        ConfigurationError: the host is not ConnectWise, or does not know the company.
    """
    url = f"{address.origin}/login/companyinfo/{quote(company_id, safe='')}"
    where = f"{address.host}" + (f":{address.port}" if address.port else "")
    try:
        response = await api.send("GET", url, headers={"clientId": client_id, "Accept": "application/json"})
    except TransportError as exc:
        hint = f"Could not reach {where}: check the site host, DNS, proxy and firewall."
        raise exc.with_details(hint=hint) from exc
    except NotFoundError as exc:
        raise _not_connectwise(where, exc.status, redact_url(url)) from exc
    try:
        data = json.loads(response.text)
    except ValueError:
        raise _not_connectwise(where, response.status_code, redact_url(url)) from None
    if data is None:
        raise ConfigurationError(
            f"ConnectWise does not know company {company_id!r} on host {where}: check the company ID you log in with",
            code=UNKNOWN_COMPANY,
            method="GET",
            url=redact_url(url),
            hint="Use the company ID you type on the ConnectWise login screen (not the company name).",
        )
    try:
        return CompanyInfo.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _not_connectwise(where, response.status_code, redact_url(url)) from exc


def _not_connectwise(where: str, status: int | None, url: str) -> ConfigurationError:
    return ConfigurationError(
        f"{where} did not answer codebase discovery like a ConnectWise Manage site",
        code=NOT_CONNECTWISE,
        status=status,
        method="GET",
        url=url,
        hint="Check the site: it is the host you log in at, e.g. na.myconnectwise.net or cw.example.com.",
    )
