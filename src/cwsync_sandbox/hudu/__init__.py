"""An emulated Hudu instance (companies, assets, asset layouts, websites, relations) for tests and local runs.

`build_hudu_sandbox(settings)` makes the state; `create_hudu_app(box)` serves it (mount it at `/hudu`; the API is
then at `/hudu/api/v1`). The contract is `shared/reference/hubspot-hudu-api-notes.md` Part B; modules: `settings`
(settings and the rate limiter), `dataset` (what a new instance holds), `state` (records and write rules), `app`
(HTTP).
"""

from cwsync_sandbox.hudu.app import HuduSandbox, build_hudu_sandbox, create_hudu_app
from cwsync_sandbox.hudu.settings import SANDBOX_HUDU_API_KEY, HuduSandboxSettings

__all__ = ["SANDBOX_HUDU_API_KEY", "HuduSandbox", "HuduSandboxSettings", "build_hudu_sandbox", "create_hudu_app"]
