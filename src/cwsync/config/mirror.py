"""`syncs.mirror`: ConnectWise → SQL tables in the store's database (see docs/mirror.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MIRROR_OBJECTS", "MirrorObject", "MirrorSchedule", "MirrorSync"]

MirrorObject = Literal["companies", "contacts", "configurations", "opportunities", "tickets"]
MIRROR_OBJECTS: tuple[MirrorObject, ...] = ("companies", "contacts", "configurations", "opportunities", "tickets")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MirrorSchedule(_Model):
    """How often `cwsync serve` runs the mirror (callbacks keep it current in between)."""

    incremental_minutes: int = Field(15, ge=1, le=1440)
    full_hours: int = Field(24, ge=1, le=720, description="a full run also removes rows deleted in ConnectWise")


class MirrorSync(_Model):
    """Which ConnectWise objects become tables (`cw_companies`, `cw_contacts`, ...) in the store's database."""

    enabled: bool = True
    objects: list[MirrorObject] = Field(default_factory=lambda: list(MIRROR_OBJECTS), min_length=1)
    on_delete: Literal["delete", "ignore", "unlink"] = Field(
        "delete",
        description="when a ConnectWise record is deleted (found by full runs and callbacks): delete its row; ignore"
        " (the row kept, its link marked and no longer synced); or unlink (the row kept, its link dropped)",
    )
    mass_delete_share: float = Field(0.9, gt=0, le=1, description="a run deleting more than this share stops")
    batch: int = Field(500, ge=1, le=5000, description="rows written per transaction")
    schedule: MirrorSchedule = Field(default_factory=MirrorSchedule)
