"""The configuration file (PL-1): one pydantic model, loaded from YAML with file:line errors."""

from cwsync.config.loader import ConfigError, ConfigProblem, load_config, parse_config
from cwsync.config.model import (
    Config,
    ConflictPolicy,
    ConnectWiseConnection,
    Direction,
    HubSpotConnection,
    HubSpotSync,
    ObjectSync,
)

__all__ = [
    "Config",
    "ConfigError",
    "ConfigProblem",
    "ConflictPolicy",
    "ConnectWiseConnection",
    "Direction",
    "HubSpotConnection",
    "HubSpotSync",
    "ObjectSync",
    "load_config",
    "parse_config",
]
