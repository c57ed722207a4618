"""Configuration: models, loading and validation."""

from edge_agent.config.load import load_config, parse_config
from edge_agent.config.models import AgentConfig, DatasetConfig, SourceConfig

__all__ = ["AgentConfig", "DatasetConfig", "SourceConfig", "load_config", "parse_config"]
