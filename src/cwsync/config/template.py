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
{hudu_connection}
server:                         # `cwsync serve` (real time): how ConnectWise and HubSpot reach it
  port: {server_port}
  public_url: http://127.0.0.1:{server_port}
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
{other_syncs}"""

HUDU_CONNECTION = """\
  hudu:                         # Admin → Basic Information → API Keys (docs/hudu.md)
    base_url: {hudu_base}
    api_key: ${{CWSYNC_HUDU_API_KEY{hudu_key_default}}}
"""

HUDU_CONNECTION_COMMENTED = """\
  # hudu:                       # Admin → Basic Information → API Keys (docs/hudu.md)
  #   base_url: https://yourcompany.huducloud.com
  #   api_key: ${CWSYNC_HUDU_API_KEY}
"""

OTHER_SYNCS = """\
  hudu:                                 # ConnectWise → Hudu documentation (docs/hudu.md)
    layouts:
      contacts: People
      locations: Locations
      configurations: Configurations    # the layout of types no sort rule names
      agreements: Agreements
      sort_rules:
        - {types: [Managed Server], layout: Server}
        - {types: [Managed Workstation, Laptop], layout: Computer}
        - {types: [Firewall, Switch, Wireless AP], layout: Network Device}
  changes:                              # change management → ConnectWise tickets (docs/changes.md)
    boards: [Help Desk]
    companies:
      acme: {connectwise: Acme}         # the change tool's company key → ConnectWise company identifier
    statuses:                           # Help Desk ticket status per lifecycle event
      created: Assigned
      fully_approved: Waiting on Client
      scheduled: Scheduled
      implementation_started: In Progress
      completed: Completed
      cancelled: Closed
    devices:
      types: {Managed Server: Server, Managed Workstation: Workstation, Laptop: Workstation, Firewall: Firewall}
  catalog:                              # catalog → HubSpot products, quotes → opportunities (docs/catalog.md)
    categories: {Hardware: Hardware, Software: Software, Services: Services}
    product_types: {Hardware: Physical, Software: Digital, Service: Service}
    default_category: Other products
    shipping_product: SHIP-GROUND
"""

OTHER_SYNCS_COMMENTED = "".join(f"  # {line[2:]}\n" for line in OTHER_SYNCS.splitlines())
"""The same sections, commented out: for a real instance, uncomment the ones to use and fit them to it."""


PLACEHOLDERS = {
    "cw_site": "na.myconnectwise.net",
    "cw_company": "yourcompany",
    "cw_public": "your-public-key",
    "cw_private_default": "",
    "cw_client": "your-client-id",
    "hs_token_default": "",
    "hs_base": "https://api.hubapi.com",
    "server_port": "8720",
    "api_default": ":-",
    "hs_secret_default": ":-",
    "http_key_urls": "",
    "hudu_base": "",
    "hudu_key_default": "",
}


def render_template(*, store: str = "sqlite:///cwsync.db", **values: str) -> str:
    """The starting configuration, with placeholders for whatever `values` does not give.

    `cw_private_default` / `hs_token_default` are defaults for the secrets' environment variables
    (e.g. `:-SbxPrivateKey001` for the sandbox); leave them empty for a real instance. With `hudu_base` (the sandbox)
    the Hudu, changes and catalog sections are written live; without it they are written commented out.
    """
    unknown = set(values) - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown template values: {', '.join(sorted(unknown))}")
    merged = {**PLACEHOLDERS, **values}
    if merged["hudu_base"]:  # the sandbox: every integration on, ready to run
        hudu, others = HUDU_CONNECTION.format(**merged), OTHER_SYNCS
    else:
        hudu, others = HUDU_CONNECTION_COMMENTED, OTHER_SYNCS_COMMENTED
    return TEMPLATE.format(store=store, hudu_connection=hudu, other_syncs=others, **merged)
