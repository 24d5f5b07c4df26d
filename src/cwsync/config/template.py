"""The commented starting configuration `cwsync init` writes."""

from __future__ import annotations

TEMPLATE = """\
# cwsync configuration. Reference: docs/configuration.md. Secrets: use ${{ENV_VARS}}, never plain text.
version: 1
tenant: default                 # one name per ConnectWise instance
store: {store}                  # or postgresql://user@host/db

connections:
  connectwise:                  # see docs/connectwise.md for the API member and security role
    site: {cw_site}
    company_id: {cw_company}
    public_key: {cw_public}
    private_key: ${{CWSYNC_CW_PRIVATE_KEY{cw_private_default}}}
    client_id: {cw_client}
  hubspot:                      # a private-app token with crm.objects.* and crm.schemas.* scopes
    token: ${{CWSYNC_HUBSPOT_TOKEN{hs_token_default}}}
    base_url: {hs_base}
    api_version: v3             # or 2026-03 for the date-based paths

server:                         # `cwsync serve` (real time): how ConnectWise and HubSpot reach it
  port: {server_port}
  public_url: http://127.0.0.1:{server_port}
  callback_token: ${{CWSYNC_CALLBACK_TOKEN{callback_default}}}
  api_token: ${{CWSYNC_API_TOKEN{api_default}}}
  hubspot_client_secret: ${{CWSYNC_HUBSPOT_CLIENT_SECRET{hs_secret_default}}}
  allow_http_key_urls: [{http_key_urls}]     # only for the local sandbox (real ConnectWise serves keys over https)

syncs:
  hubspot:
    enabled: true
    conflict_policy: connectwise-wins   # connectwise-wins | hubspot-wins | newest-wins
    schedule: {{incremental_minutes: 5, full_hours: 24}}
    objects:
      companies:
        direction: two-way              # connectwise-to-hubspot | hubspot-to-connectwise | two-way
        # match: [connectwise_company_id]
        # fields:
        #   remove: [domain]
        #   direction: {{phone: "->"}}
        #   add:
        #     - {{connectwise: customFields/Tier, hubspot: cw_tier, direction: "->"}}
        # filters:
        #   connectwise:
        #     - {{field: types, op: in, value: [Customer, Prospect]}}
      contacts:
        direction: two-way
      deals:
        direction: connectwise-to-hubspot
"""


PLACEHOLDERS = {
    "cw_site": "na.myconnectwise.net",
    "cw_company": "yourcompany",
    "cw_public": "your-public-key",
    "cw_private_default": "",
    "cw_client": "your-client-id",
    "hs_token_default": "",
    "hs_base": "https://api.hubapi.com",
    "server_port": "8720",
    "callback_default": ":-",
    "api_default": ":-",
    "hs_secret_default": ":-",
    "http_key_urls": "",
}


def render_template(*, store: str = "sqlite:///cwsync.db", **values: str) -> str:
    """The starting configuration, with placeholders for whatever `values` does not give.

    `cw_private_default` / `hs_token_default` are defaults for the secrets' environment variables
    (e.g. `:-SbxPrivateKey001` for the sandbox); leave them empty for a real instance.
    """
    unknown = set(values) - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown template values: {', '.join(sorted(unknown))}")
    return TEMPLATE.format(store=store, **{**PLACEHOLDERS, **values})
