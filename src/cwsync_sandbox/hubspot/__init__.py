"""An emulated HubSpot portal (CRM objects, search, properties, associations, pipelines, owners, webhooks).

`build_hubspot_sandbox(settings)` makes the state; `create_hubspot_app(box)` serves it (mount it at `/hubspot`).
The contract is `shared/reference/hubspot-hudu-api-notes.md` Part A; modules: `settings` (settings and rate limits),
`dataset` (what a new portal holds), `state` (records and write rules), `search`, `webhooks`, `app` (HTTP).
"""

from cwsync_sandbox.hubspot.app import HubSpotSandbox, build_hubspot_sandbox, create_hubspot_app
from cwsync_sandbox.hubspot.settings import HubSpotSandboxSettings

__all__ = ["HubSpotSandbox", "HubSpotSandboxSettings", "build_hubspot_sandbox", "create_hubspot_app"]
