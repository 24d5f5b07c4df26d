"""Deletion policies per pair (#13): the defaults, and a policy a pair cannot carry out refused at load, with the
file, line and setting, naming the valid ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cwsync.config import ConfigError, load_config

CONNECTIONS = {
    "connectwise": {"site": "x", "company_id": "x", "public_key": "x", "private_key": "x", "client_id": "x"},
    "hudu": {"base_url": "http://hudu.test", "api_key": "k"},
    "hubspot": {"token": "t"},
}


def load(tmp_path: Path, syncs: dict[str, Any]) -> Any:
    """The file with these syncs, as the CLI loads it (one line per section, so errors name line 5)."""
    lines = ["store: sqlite:///x.db", f"connections: {json.dumps(CONNECTIONS)}", "server: {}", "syncs:"]
    lines += [f"  {name}: {json.dumps(section)}" for name, section in syncs.items()]
    path = tmp_path / "cwsync.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


def test_defaults_keep_what_each_integration_did(tmp_path: Path) -> None:
    """HubSpot archives, the catalog archives, Hudu leaves its documentation alone, the mirror and devices delete."""
    config = load(tmp_path, {"hubspot": {}, "hudu": {}, "catalog": {}, "mirror": {}})
    syncs = config.syncs
    assert {o.on_delete for o in syncs.hubspot.objects.values()} == {"archive"}
    assert syncs.catalog.on_delete == "archive"
    assert [syncs.hudu.on_delete_of(k) for k in ("companies", "configurations")] == ["ignore", "ignore"]
    assert syncs.mirror.on_delete == "delete"


def test_hudu_takes_one_policy_or_one_per_data_type(tmp_path: Path) -> None:
    """`on_delete: archive` is every data type's; a mapping names some (the rest ignore); `unlink` for all leaves
    companies at ignore (they cannot unlink)."""
    hudu = load(tmp_path, {"hudu": {"on_delete": "archive"}}).syncs.hudu
    assert {hudu.on_delete_of(k) for k in ("companies", "sites", "agreements")} == {"archive"}
    hudu = load(tmp_path, {"hudu": {"on_delete": {"configurations": "unlink"}}}).syncs.hudu
    assert (hudu.on_delete_of("configurations"), hudu.on_delete_of("contacts")) == ("unlink", "ignore")
    hudu = load(tmp_path, {"hudu": {"on_delete": "unlink"}}).syncs.hudu
    assert (hudu.on_delete_of("contacts"), hudu.on_delete_of("companies")) == ("unlink", "ignore")


@pytest.mark.parametrize(
    ("syncs", "setting", "valid"),
    [
        ({"hudu": {"on_delete": "delete"}}, "syncs.hudu.on_delete", "archive, ignore, unlink"),
        ({"hudu": {"on_delete": {"companies": "unlink"}}}, "syncs.hudu.on_delete", "use archive or ignore"),
        ({"mirror": {"on_delete": "flag"}}, "syncs.mirror.on_delete", "'delete', 'ignore' or 'unlink'"),
        ({"catalog": {"on_delete": "delete"}}, "syncs.catalog.on_delete", "'archive', 'flag', 'ignore' or 'unlink'"),
        (
            {"hubspot": {"objects": {"deals": {"on_delete": "delete"}}}},
            "syncs.hubspot.objects.deals.on_delete",
            "'archive', 'flag', 'unlink' or 'ignore'",
        ),
    ],
    ids=["hudu", "hudu-companies", "mirror", "catalog", "hubspot"],
)
def test_a_policy_the_pair_cannot_do_is_refused_naming_the_valid_ones(
    tmp_path: Path, syncs: dict[str, Any], setting: str, valid: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, syncs)
    text = str(info.value)
    assert f"cwsync.yaml:5: {setting}" in text
    assert valid in text
