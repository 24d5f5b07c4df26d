"""The console's config editor: checked saves, versions kept in the store, diff and roll back (#14, PL-1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cwsync.config import Config, ConfigError, load_config
from cwsync.config.edit import EditError, StaleEditError, diff_text, set_value
from cwsync.console.config.checks import mapping_check
from cwsync.console.config.editor import ConfigEditor
from cwsync.store import Store
from cwsync.store.config_versions import CONFIG_VERSIONS, ConfigVersions
from tests.store.test_store import shared_postgres_url  # noqa: F401  (the module's PostgreSQL database)

TEXT = """\
# the team's configuration
version: 1
store: sqlite:///cwsync.db
connections:
  connectwise: {site: http://cw, company_id: c, public_key: p, private_key: "${CW_KEY}", client_id: i}
  hubspot:
    token: ${HS_TOKEN}   # a private app
syncs:
  hubspot:
    objects:
      companies: {direction: two-way}   # both ways
      contacts: {direction: two-way}
      deals: {direction: connectwise-to-hubspot}
"""
ENV = {"CW_KEY": "k", "HS_TOKEN": "t"}
DEALS = ("syncs", "hubspot", "objects", "deals", "direction")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file, or the module's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("shared_postgres_url")
    return url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on each backend, with no config versions."""
    opened = await Store.open(db_url)
    async with opened._connect(write=True) as conn, conn.begin():
        await conn.execute(CONFIG_VERSIONS.delete())
    yield opened
    await opened.close()


@pytest.fixture
def editor(tmp_path: Path, store: Store) -> ConfigEditor:
    path = tmp_path / "cwsync.yaml"
    path.write_text(TEXT, encoding="utf-8")
    return ConfigEditor(path, store, "default", checks=[mapping_check], environ=ENV)


async def test_a_save_writes_the_file_and_keeps_both_versions(editor: ConfigEditor) -> None:
    """The first save keeps the original text and the new one; the file loads with the CLI loader."""
    result = await editor.save([set_value(DEALS, "->")], author="ann")
    assert result.changed
    assert result.effects[0].startswith("affects future syncs only")
    versions = await editor.history()
    assert [(v.kind, v.author) for v in versions] == [("edit", "ann"), ("original", "ann")]
    assert versions[0].number == result.version
    assert "deals.direction" in versions[0].summary
    original = await editor.versions.get(versions[1].number)
    assert original is not None
    assert original.text == TEXT
    assert "# the team's configuration" in editor.path.read_text(encoding="utf-8")
    assert load_config(editor.path, environ=ENV).syncs.hubspot.objects["deals"].direction == "->"  # type: ignore[union-attr]


async def test_a_refused_edit_writes_nothing_and_names_the_line(editor: ConfigEditor) -> None:
    """A mapping the CLI's checks refuse is a ConfigError; the file and the versions stay as they were."""
    bad = set_value(("syncs", "hubspot", "objects", "deals", "direction"), "<-")
    with pytest.raises(ConfigError, match=r"cwsync.yaml:\d+: syncs.hubspot.objects.deals: deals: match names"):
        await editor.save([bad], author="ann")
    with pytest.raises(ConfigError, match=r"cwsync.yaml:\d+: syncs.hubspot.objects.companies.on_delete"):
        await editor.save([set_value(("syncs", "hubspot", "objects", "companies", "on_delete"), "x")], author="ann")
    assert editor.path.read_text(encoding="utf-8") == TEXT
    assert await editor.versions.count() == 0


async def test_preview_shows_the_problems_and_the_diff_without_saving(editor: ConfigEditor) -> None:
    """A preview validates and diffs; nothing is written."""
    preview = await editor.preview([set_value(DEALS, "->")])
    assert preview.ok
    assert "+      deals: {direction: ->}" in preview.edited.diff()
    assert editor.path.read_text(encoding="utf-8") == TEXT


async def test_a_stale_page_cannot_save_over_a_newer_file(editor: ConfigEditor) -> None:
    """A save carrying the hash of an older text is refused; the hand edit stays."""
    loaded = editor.document().sha256
    editor.path.write_text(TEXT + "# by hand\n", encoding="utf-8")
    with pytest.raises(StaleEditError):
        await editor.save([set_value(DEALS, "->")], author="ann", expected=loaded)
    assert editor.path.read_text(encoding="utf-8").endswith("# by hand\n")


async def test_a_hand_edit_between_saves_is_kept_as_a_version(editor: ConfigEditor) -> None:
    """Text found on disk that is no version (edited by hand, or a save whose version was lost) is recorded first."""
    await editor.save([set_value(DEALS, "->")], author="ann")
    editor.path.write_text(editor.path.read_text(encoding="utf-8") + "# by hand\n", encoding="utf-8")
    await editor.save([set_value(("syncs", "hubspot", "conflict_policy"), "newest-wins")], author="bob")
    kinds = [v.kind for v in await editor.history()]
    assert kinds == ["edit", "external", "edit", "original"]


async def test_roll_back_writes_an_old_version_as_a_new_one(editor: ConfigEditor) -> None:
    """Rolling back restores the old text exactly (comments too) and is itself a version."""
    await editor.save([set_value(DEALS, "->")], author="ann")
    original = (await editor.history())[-1]
    result = await editor.rollback(original.number, author="bob")
    assert editor.path.read_text(encoding="utf-8") == TEXT
    newest = (await editor.history())[0]
    assert (newest.number, newest.kind, newest.summary) == (
        result.version,
        "rollback",
        f"rolled back to version {original.number}",
    )
    with pytest.raises(LookupError):
        await editor.rollback(9999, author="bob")


async def test_saving_the_same_text_again_adds_no_version(editor: ConfigEditor) -> None:
    """A retried save (same result) is the same version: no copies pile up."""
    first = await editor.save([set_value(DEALS, "->")], author="ann")
    again = await editor.save([set_value(DEALS, "->")], author="ann")
    assert again.version == first.version
    assert not again.changed
    assert await editor.versions.count() == 2


async def test_secrets_are_refused_before_anything_is_checked(editor: ConfigEditor) -> None:
    """A plain-text secret never reaches the file or the store."""
    with pytest.raises(EditError, match="is a secret"):
        await editor.save([set_value(("connections", "hubspot", "token"), "pat-na1-secret")], author="ann")
    assert "pat-na1-secret" not in editor.path.read_text(encoding="utf-8")
    assert await editor.versions.count() == 0


async def test_later_checks_name_lines_of_the_new_text(editor: ConfigEditor) -> None:
    """A check's problem points at the line the edited file will have."""

    async def no_two_way(config: Config) -> list[tuple[tuple[Any, ...], str]]:
        return [(("syncs", "hubspot", "objects", "contacts", "direction"), "two-way is not allowed here")]

    editor.checks = [no_two_way]
    preview = await editor.preview([set_value(("syncs", "hubspot", "conflict_policy"), "newest-wins")])
    line = preview.edited.text.splitlines().index("      contacts: {direction: two-way}") + 1
    assert (
        str(preview.error)
        == f"{editor.path}:{line}: syncs.hubspot.objects.contacts.direction: two-way is not allowed here"
    )


async def test_versions_are_per_tenant_and_listed_newest_first(store: Store) -> None:
    """Each tenant sees its own versions; listing pages newest first without the text."""
    acme, other = ConfigVersions(store, tenant="acme"), ConfigVersions(store, tenant="other")
    numbers = [await acme.add(path="/c.yaml", text=f"v: {n}\n", author="ann", summary=f"edit {n}") for n in range(3)]
    await other.add(path="/c.yaml", text="v: x\n", author="bob", summary="other")
    listed = await acme.list(limit=2)
    assert [v.number for v in listed] == numbers[::-1][:2]
    assert all(v.text == "" for v in listed)
    assert [v.number for v in await acme.list(limit=2, offset=2)] == numbers[:1]
    assert await other.get(numbers[0]) is None
    got = await acme.get(numbers[1])
    assert got is not None
    assert got.text == "v: 1\n"
    assert diff_text(got.text, "v: 2\n", "1", "2").count("\n") == 5
