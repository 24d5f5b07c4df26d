"""Company-type priority moved to `cwsync.core.priority` (the HubSpot sync uses it too: its import of the catalog
package made the two packages import each other). Re-exported here, so existing imports keep working."""

from cwsync.core.priority import company_type_names, order_types, pick_company_type

__all__ = ["company_type_names", "order_types", "pick_company_type"]
