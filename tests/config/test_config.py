"""Loading the configuration file: env secrets, and errors naming file, line and field (PL-1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwsync.config import ConfigError, load_config, parse_config

GOOD = """\
version: 1
store: sqlite:///x.db
connections:
  connectwise:
    site: na.myconnectwise.net
    company_id: acme
    public_key: pub
    private_key: ${CW_PRIVATE}
    client_id: cid
  hubspot:
    token: ${HS_TOKEN:-pat-default}
syncs:
  hubspot:
    conflict_policy: hubspot-wins
    objects:
      contacts:
        direction: connectwise-to-hubspot
        fields:
          direction: {firstname: "->"}
"""


def test_valid_config_with_env_secrets() -> None:
    """Secrets come from the environment; defaults after :- apply; words and arrows both parse."""
    config = parse_config(GOOD, environ={"CW_PRIVATE": "s3cret"})
    assert config.connections.connectwise.private_key.get_secret_value() == "s3cret"
    assert config.connections.hubspot is not None
    assert config.connections.hubspot.token.get_secret_value() == "pat-default"
    assert config.syncs.hubspot is not None
    assert config.syncs.hubspot.conflict_policy == "other-wins"
    assert config.syncs.hubspot.objects["contacts"].direction == "->"


def test_unset_env_var_names_line_and_field() -> None:
    """An unset ${VAR} is an error at its line, naming the field and the variable."""
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD, path="cwsync.yaml", environ={})
    assert "cwsync.yaml:8: connections.connectwise.private_key: environment variable CW_PRIVATE is not set" in str(
        info.value
    )


def test_unknown_field_names_line() -> None:
    """A misspelt key is reported at its line."""
    text = GOOD.replace("    client_id: cid", "    client_id: cid\n    clientid: oops")
    with pytest.raises(ConfigError) as info:
        parse_config(text, path="c.yaml", environ={"CW_PRIVATE": "x"})
    assert "c.yaml:10: connections.connectwise.clientid: unknown field" in str(info.value)


def test_bad_direction_names_line() -> None:
    """A bad direction is refused where it is written."""
    text = GOOD.replace("direction: connectwise-to-hubspot", "direction: sideways")
    with pytest.raises(ConfigError) as info:
        parse_config(text, path="c.yaml", environ={"CW_PRIVATE": "x"})
    message = str(info.value)
    assert "c.yaml:17: syncs.hubspot.objects.contacts.direction" in message
    assert "sideways" in message


def test_missing_required_field() -> None:
    """A missing required field is reported on its parent's line."""
    text = GOOD.replace("    company_id: acme\n", "")
    with pytest.raises(ConfigError) as info:
        parse_config(text, path="c.yaml", environ={"CW_PRIVATE": "x"})
    assert "connections.connectwise.company_id: required field is missing" in str(info.value)


def test_invalid_yaml_names_line() -> None:
    """Broken YAML is reported with its line."""
    with pytest.raises(ConfigError) as info:
        parse_config("a: [1, 2\nb: 3\n", path="c.yaml", environ={})
    assert "c.yaml:" in str(info.value)
    assert "not valid YAML" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("spelling", "policy"),
    [
        ("connectwise-wins", "connectwise-wins"),
        ("cw-wins", "connectwise-wins"),
        ("CW_Wins", "connectwise-wins"),
        ("hubspot-wins", "other-wins"),
        ("hudu-wins", "other-wins"),
        ("newest-wins", "newest-wins"),
    ],
)
def test_conflict_policy_spellings(spelling: str, policy: str) -> None:
    """The documented spellings and their aliases: `cw-wins` is ConnectWise winning, not the other side (#13.4)."""
    config = parse_config(GOOD.replace("hubspot-wins", spelling), environ={"CW_PRIVATE": "x"})
    assert config.syncs.hubspot is not None
    assert config.syncs.hubspot.conflict_policy == policy


@pytest.mark.parametrize("spelling", ["nobody-wins", "cw", "oldest-wins"])
def test_unknown_conflict_policy_is_refused_with_the_valid_ones(spelling: str) -> None:
    """Anything else is refused at its line, naming the valid spellings (it used to mean "HubSpot wins")."""
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace("hubspot-wins", spelling), path="c.yaml", environ={"CW_PRIVATE": "x"})
    message = str(info.value)
    assert "c.yaml:14: syncs.hubspot.conflict_policy" in message
    assert "connectwise-wins" in message
    assert "newest-wins" in message
