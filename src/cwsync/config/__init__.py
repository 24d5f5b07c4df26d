"""The configuration file (PL-1): one pydantic model, loaded from YAML with file:line errors."""

from cwsync.config.loader import ConfigError, ConfigProblem, load_config, parse_config, problems_at
from cwsync.config.model import Config

__all__ = [
    "Config",
    "ConfigError",
    "ConfigProblem",
    "load_config",
    "parse_config",
    "problems_at",
]
