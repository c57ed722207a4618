"""``edge-agent demo``: the simulators, the agent and an embedded MQTT broker, with a live view.

Nothing to install and no network: the broker (amqtt) listens on a free loopback port, the
simulators write into a temporary folder, and the view shows what reaches the broker.
"""

from edge_agent.demo.app import run_demo

__all__ = ["run_demo"]
