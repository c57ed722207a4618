"""Configuration: models, loading and validation."""

from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.load import load_config, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.sources import SourceConfig

__all__ = ["AgentConfig", "DatasetConfig", "SourceConfig", "load_config", "parse_config"]
