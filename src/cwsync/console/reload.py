"""Handing a saved configuration file to the running server, so the next job uses it without a restart.

Every console save (a configuration screen, a roll-back, a connection) ends with `apply_saved`: the file is loaded
with the CLI's loader and given to `Server.reload` (stored secrets resolved, clients reopened when a connection
changed, the HubSpot engine and the schedules rebuilt). What it says is added to the save's message. A file the
server cannot use (a connection that does not open) leaves the server on its previous settings and says so: the
file is saved either way, and the next restart reads it.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from cwsync.config import ConfigError, load_config
from cwsync.connectors.http import CwsyncApiError
from cwsync.console.web import Ctx

__all__ = ["NEXT_JOB", "apply_saved"]

log = structlog.get_logger("cwsync.console")

NEXT_JOB = "the running server uses it from its next job"


async def apply_saved(ctx: Ctx) -> str:
    """Reload the session's tenant's server from its configuration file; the sentence for the save's message."""
    server = ctx.server
    source = server.config.source
    if source is None:
        return "the running server keeps its settings (it was started without a file)"
    try:
        config = load_config(Path(source))
        later = await server.reload(config)
    except ConfigError as exc:
        log.warning("console.reload_failed", tenant=server.tenant, error=exc.render())
        return "the running server keeps its previous settings until it restarts: " + exc.render()
    except CwsyncApiError as exc:
        log.warning("console.reload_failed", tenant=server.tenant, error=exc.message, fix=exc.hint)
        return f"the running server keeps its previous settings until it restarts: {exc.message}"
    except ValueError as exc:
        log.warning("console.reload_failed", tenant=server.tenant, error=str(exc))
        return f"the running server keeps its previous settings until it restarts: {exc}"
    return "; ".join([NEXT_JOB, *later])
