"""The publisher a configuration names."""

from __future__ import annotations

from edge_agent.config.models import AgentConfig
from edge_agent.publish.base import Publisher


def make_publisher(config: AgentConfig) -> Publisher:
    """MQTT (paho) or Greengrass IPC, as ``publish.target`` says."""
    if config.publish.target == "greengrass":
        from edge_agent.publish.greengrass import GreengrassPublisher  # noqa: PLC0415

        return GreengrassPublisher(config.publish.greengrass, thing_name=config.thing_name)
    from edge_agent.publish.mqtt import MqttPublisher  # noqa: PLC0415

    return MqttPublisher(config.publish.mqtt, thing_name=config.thing_name)
