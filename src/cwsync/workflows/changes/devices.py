"""The change workflow's device look-ups: a device by `@hostname` with its changes, and the device sync or a refusal."""

from __future__ import annotations

from cwsync.integrations.devices.models import DeviceView
from cwsync.integrations.devices.sync import DeviceSync
from cwsync.integrations.devices.table import DeviceStore
from cwsync.workflows.changes.errors import ChangeRefused

__all__ = ["device_view", "sync_of"]


async def device_view(devices: DeviceStore, hostname: str, *, company: str | None = None) -> DeviceView:
    """The device with this hostname (any case), of `company` (identifier or id) when given, and its changes.

    Raises:
        ChangeRefused: `unknown_device`; `ambiguous_device` when companies share the hostname (give `company`).
    """
    wanted = hostname.strip().lstrip("@").lower()
    found = await devices.by_hostname(wanted)
    if company:
        key = company.strip().lower()
        found = [d for d in found if (d.company or "").lower() == key or str(d.company_id) == key]
    if not found:
        scope = f" of company {company!r}" if company else ""
        raise ChangeRefused("unknown_device", f"no device{scope} has the hostname {wanted!r}")
    if len(found) > 1:
        companies = ", ".join(sorted({d.company or str(d.company_id) for d in found}))
        raise ChangeRefused(
            "ambiguous_device", f"{len(found)} devices have the hostname {wanted!r} ({companies}): give the company"
        )
    return DeviceView(device=found[0], changes=await devices.changes_of(found[0].cw_id))


def sync_of(sync: DeviceSync | None) -> DeviceSync:
    """The device sync, or a refusal saying how to set it up.

    Raises:
        ChangeRefused: `devices_not_configured`.
    """
    if sync is None:
        raise ChangeRefused(
            "devices_not_configured", "device sync is not configured: add `devices: {types: {...}}` under changes"
        )
    return sync
