"""Editing the configuration file: round-trip with comments, validation by the CLI's loader, atomic writes (#14)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cwsync.config import ConfigError, load_config
from cwsync.config.edit import (
    ConfigDocument,
    EditError,
    StaleEditError,
    add_field,
    add_filter,
    append,
    delete,
    diff_text,
    discard,
    effect_of,
    remove_field,
    remove_filter,
    secret_paths,
    set_field_direction,
    set_value,
    set_value_map,
    write_atomic,
)

TEXT = """\
# cwsync configuration (hand-written)
version: 1
store: sqlite:///cwsync.db      # next to this file
connections:
  connectwise:
    site: http://127.0.0.1:8710
    company_id: cwsandbox
    public_key: pub
    private_key: ${CW_PRIVATE}  # never in plain text
    client_id: cid
  hubspot:
    token: ${HS_TOKEN}
syncs:
  hubspot:
    objects:
      companies:
        direction: two-way      # both ways
      contacts:
        direction: two-way
        fields:
          direction: {email: "->"}   # keep HubSpot's email
      deals:
        direction: connectwise-to-hubspot
  catalog:
    company_type_priority: [Customer, Prospect, Partner]   # SB-2: first wins
"""
ENV = {"CW_PRIVATE": "k", "HS_TOKEN": "t"}
COMPANIES = ("syncs", "hubspot", "objects", "companies")


@pytest.fixture
def doc(tmp_path: Path) -> ConfigDocument:
    path = tmp_path / "cwsync.yaml"
    path.write_text(TEXT, encoding="utf-8")
    return ConfigDocument.read(path)


def test_an_edit_keeps_every_comment_and_changes_only_its_lines(doc: ConfigDocument) -> None:
    """Setting one value rewrites that line only; every comment, key order and flow style stays."""
    edited = doc.apply([set_value((*COMPANIES, "direction"), "connectwise-to-hubspot")])
    assert edited.text == TEXT.replace(
        "direction: two-way      # both ways", "direction: connectwise-to-hubspot # both ways"
    )
    assert [line for line in edited.diff().splitlines() if line.startswith(("+ ", "- ", "+  ", "-  "))] == [
        "-        direction: two-way      # both ways",
        "+        direction: connectwise-to-hubspot # both ways",
    ]


def test_reordering_a_flow_list_keeps_its_style_and_comment(doc: ConfigDocument) -> None:
    """company_type_priority reordered stays a one-line list with its comment (SB-2)."""
    path = ("syncs", "catalog", "company_type_priority")
    edited = doc.apply([set_value(path, ["Prospect", "Partner", "Customer"])])
    assert "company_type_priority: [Prospect, Partner, Customer]   # SB-2: first wins" in edited.text
    assert edited.validate(environ=ENV).syncs.catalog.company_type_priority == ["Prospect", "Partner", "Customer"]  # type: ignore[union-attr]


def test_a_new_field_mapping_and_value_map_validate_as_the_cli_loads_them(doc: ConfigDocument) -> None:
    """add_field + set_value_map write entries the CLI's model reads back as an added field and a value map."""
    edited = doc.apply(
        [
            *add_field(
                doc, "companies", connectwise="customFields/Tier", hubspot="cw_tier", direction="->", label="Tier"
            ),
            *set_value_map("companies", "cw_tier", {"Gold": "gold", " ": "ignored"}),
        ]
    )
    companies = edited.validate(environ=ENV).syncs.hubspot.objects["companies"]  # type: ignore[union-attr]
    (added,) = companies.fields.add
    assert (added.connectwise, added.other, added.direction, added.label) == (
        "customFields/Tier",
        "cw_tier",
        "->",
        "Tier",
    )
    assert companies.value_maps == {"cw_tier": {"Gold": "gold"}}
    assert "# both ways" in edited.text
    assert "# keep HubSpot's email" in edited.text


def test_adding_a_field_twice_replaces_its_entry(doc: ConfigDocument) -> None:
    """Mapping the same HubSpot property again edits the existing entry instead of adding a second one."""
    first = doc.apply(add_field(doc, "companies", connectwise="city", hubspot="cw_city"))
    first.save()
    again = ConfigDocument.read(doc.path)
    second = again.apply(add_field(again, "companies", connectwise="state", hubspot="cw_city", direction="->"))
    added = second.validate(environ=ENV).syncs.hubspot.objects["companies"].fields.add  # type: ignore[union-attr]
    assert [(a.connectwise, a.other, a.direction) for a in added] == [("state", "cw_city", "->")]


def test_removing_fields_default_and_added(doc: ConfigDocument) -> None:
    """A default field goes into fields.remove; an added one leaves fields.add; direction entries go with them."""
    doc.apply(add_field(doc, "contacts", connectwise="title", hubspot="jobtitle2")).save()
    doc = ConfigDocument.read(doc.path)
    edited = doc.apply(
        [
            *remove_field(doc, "contacts", "email", defaults=["email", "firstname"]),
            *remove_field(doc, "contacts", "jobtitle2", defaults=["email", "firstname"]),
        ]
    )
    contacts = edited.validate(environ=ENV).syncs.hubspot.objects["contacts"]  # type: ignore[union-attr]
    assert contacts.fields.remove == ["email"]
    assert contacts.fields.add == []
    assert contacts.fields.direction == {}
    assert "fields:\n          direction" not in edited.text  # emptied containers are pruned


def test_adding_back_a_removed_default_takes_it_off_the_remove_list(doc: ConfigDocument) -> None:
    """Re-adding a removed field drops it from fields.remove (otherwise both would apply)."""
    doc.apply(remove_field(doc, "companies", "domain", defaults=["domain"])).save()
    doc = ConfigDocument.read(doc.path)
    edited = doc.apply(add_field(doc, "companies", connectwise="website", hubspot="domain", direction="->"))
    companies = edited.validate(environ=ENV).syncs.hubspot.objects["companies"]  # type: ignore[union-attr]
    assert companies.fields.remove == []
    assert [a.other for a in companies.fields.add] == ["domain"]


def test_field_direction_goes_to_the_added_entry_or_the_direction_map(doc: ConfigDocument) -> None:
    """An added field's own direction is edited in place; a default field's goes into fields.direction."""
    doc.apply(add_field(doc, "companies", connectwise="city", hubspot="cw_city")).save()
    doc = ConfigDocument.read(doc.path)
    edited = doc.apply(
        [*set_field_direction(doc, "companies", "cw_city", "->"), *set_field_direction(doc, "companies", "name", "<-")]
    )
    fields = edited.validate(environ=ENV).syncs.hubspot.objects["companies"].fields  # type: ignore[union-attr]
    assert fields.add[0].direction == "->"
    assert fields.direction == {"name": "<-"}


def test_filters_added_and_removed(doc: ConfigDocument) -> None:
    """add_filter appends a rule; remove_filter takes one out by position, and the empty list is pruned."""
    edited = doc.apply(
        [
            *add_filter("companies", "connectwise", {"field": "types", "op": "in", "value": ["Customer"]}),
            *add_filter("companies", "connectwise", {"field": "status", "op": "eq", "value": "Active"}),
        ]
    )
    rules = edited.validate(environ=ENV).syncs.hubspot.objects["companies"].filters.connectwise  # type: ignore[union-attr]
    assert [(r.field, r.op, r.value) for r in rules] == [("types", "in", ["Customer"]), ("status", "eq", "Active")]
    edited.save()
    doc = ConfigDocument.read(doc.path)
    after = doc.apply([*remove_filter("companies", "connectwise", 0), *remove_filter("companies", "connectwise", 0)])
    assert "filters" not in after.text


def test_an_invalid_result_is_refused_with_line_and_field(doc: ConfigDocument) -> None:
    """A value the model refuses is a ConfigError naming the file, the line in the edited text and the field."""
    edited = doc.apply([set_value((*COMPANIES, "on_delete"), "explode")])
    with pytest.raises(ConfigError) as info:
        edited.validate(environ=ENV)
    line = edited.text.splitlines().index("        on_delete: explode") + 1
    assert f"{doc.path}:{line}: syncs.hubspot.objects.companies.on_delete:" in str(info.value)


def test_unknown_keys_are_refused_like_the_cli(doc: ConfigDocument) -> None:
    """A misspelt key from an edit fails the same way a hand edit does."""
    with pytest.raises(ConfigError, match="unknown field"):
        doc.apply([set_value((*COMPANIES, "filterz"), [])]).validate(environ=ENV)


def test_a_secret_in_plain_text_is_refused(doc: ConfigDocument) -> None:
    """A secret field takes only ${ENV} or ${secret:name}; a literal (or an env default holding it) is refused."""
    for value in ("pat-abc123", "${HS_TOKEN:-pat-abc123}"):
        with pytest.raises(EditError, match=r"connections\.hubspot\.token is a secret"):
            doc.apply([set_value(("connections", "hubspot", "token"), value)])
    with pytest.raises(EditError, match=r"connections\.hudu\.api_key is a secret"):
        doc.apply([set_value(("connections", "hudu"), {"base_url": "https://h", "api_key": "plain"})])
    ok = doc.apply([set_value(("connections", "hubspot", "token"), "${secret:hubspot_token}")])
    assert "token: ${secret:hubspot_token}" in ok.text


def test_secret_paths_are_every_secret_of_the_model() -> None:
    """The secret fields are found from the model itself (a new SecretStr is covered without a list to update)."""
    assert set(secret_paths()) == {
        ("connections", "connectwise", "private_key"),
        ("connections", "hubspot", "token"),
        ("connections", "hudu", "api_key"),
        ("server", "callback_token"),
        ("server", "hubspot_client_secret"),
        ("server", "api_token"),
    }


def test_a_stale_edit_is_refused_and_the_file_left_alone(doc: ConfigDocument) -> None:
    """A save prepared against an older text does not overwrite a change made meanwhile."""
    edited = doc.apply([set_value((*COMPANIES, "direction"), "->")])
    doc.path.write_text(TEXT + "# edited by hand\n", encoding="utf-8")
    with pytest.raises(StaleEditError, match="changed since this edit was prepared"):
        edited.save()
    assert doc.path.read_text(encoding="utf-8").endswith("# edited by hand\n")


def test_a_saved_file_loads_with_the_cli_loader_and_keeps_its_mode(doc: ConfigDocument) -> None:
    """The written file is what load_config reads; its permission bits stay; no temporary file is left."""
    os.chmod(doc.path, 0o640)
    doc.apply([set_value((*COMPANIES, "on_filtered"), "archive")]).save()
    config = load_config(doc.path, environ=ENV)
    assert config.syncs.hubspot.objects["companies"].on_filtered == "archive"  # type: ignore[union-attr]
    assert stat.S_IMODE(doc.path.stat().st_mode) == 0o640
    assert sorted(p.name for p in doc.path.parent.iterdir()) == ["cwsync.yaml"]


def test_write_atomic_leaves_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    """A write that fails half-way (here: text that cannot be encoded) leaves the old file whole and no temp file."""
    path = tmp_path / "c.yaml"
    path.write_text("old: 1\n", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "new: \ud800\n")
    assert path.read_text(encoding="utf-8") == "old: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def test_primitive_changes(doc: ConfigDocument) -> None:
    """append/discard on lists, delete of absent keys (a no-op), and errors for paths through a value."""
    edited = doc.apply(
        [
            append(("syncs", "catalog", "company_type_priority"), "Vendor"),
            discard(("syncs", "catalog", "company_type_priority"), "Prospect"),
            delete(("syncs", "hudu")),
        ]
    )
    assert "company_type_priority: [Customer, Partner, Vendor]" in edited.text
    with pytest.raises(EditError, match="store is a value, not a mapping"):
        doc.apply([set_value(("store", "x"), 1)])
    with pytest.raises(EditError, match="no item 9"):
        doc.apply([set_value(("syncs", "catalog", "company_type_priority", 9, "x"), 1)])


def test_effects_say_what_a_change_affects() -> None:
    """A mapping change says it affects future syncs only; a server change that it needs a restart."""
    effects = effect_of([set_value((*COMPANIES, "direction"), "->"), set_value(("server", "port"), 1)])
    assert effects[0].startswith("affects future syncs only")
    assert "restarts" in effects[1]


def test_diff_text_is_a_unified_diff() -> None:
    """Two versions diff line by line with labels."""
    assert diff_text("a: 1\nb: 2\n", "a: 1\nb: 3\n", "v1", "v2").splitlines() == [
        "--- v1",
        "+++ v2",
        "@@ -1,2 +1,2 @@",
        " a: 1",
        "-b: 2",
        "+b: 3",
    ]


def test_the_files_own_indentation_and_nulls_are_kept(tmp_path: Path) -> None:
    """Lists indented under their key, 4-space mappings and spelt-out nulls stay as written around an edit."""
    path = tmp_path / "c.yaml"
    text = "a:\n    rpm: null\n    rules:\n      - {x: 1}\n      - y\n    other: 1   # kept\n"
    path.write_text(text, encoding="utf-8")
    edited = ConfigDocument.read(path).apply([set_value(("a", "other"), 2)])
    assert edited.text == text.replace("other: 1   # kept", "other: 2   # kept")
