"""The configuration file (PL-1): one pydantic model, loaded from YAML with file:line errors."""

from cwsync.config.loader import ConfigError, ConfigProblem, load_config, parse_config, problems_at
from cwsync.config.model import Config, ConnectWiseConnection, HubSpotConnection, HubSpotSync, ObjectSync
from cwsync.config.vocabulary import Action, ConflictPolicy, Direction, Side

__all__ = [
    "Action",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "ConflictPolicy",
    "ConnectWiseConnection",
    "Direction",
    "HubSpotConnection",
    "HubSpotSync",
    "ObjectSync",
    "Side",
    "load_config",
    "parse_config",
    "problems_at",
]
