"""/healthz and /metrics over HTTP on a loopback port, beside the event loop.

The library's way (``prometheus_client.make_wsgi_app`` on a threading WSGI server, as its own
``start_http_server`` does), with /healthz added in front. The server runs in one thread of
its own so a slow scrape never holds up the event loop; ``serve()`` is the task that owns it.
A port already taken is logged as a WARNING and the agent carries on: delivering data never
depends on the operator's view.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from edge_agent.health.monitor import Verdict

log = logging.getLogger("edge_agent.health")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung scraper must not keep the agent from exiting


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not news."""


def make_app(
    registry: CollectorRegistry, verdict: Callable[[], Verdict]
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app: /healthz (200 or 503 with JSON), anything else the metrics."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            judged = verdict()
            body = json.dumps(judged.as_dict()).encode()
            status = "200 OK" if judged.healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        result: Iterable[bytes] = metrics(environ, start_response)
        return result

    return app


class HealthServer:
    """Serves the app on ``host:port`` from a thread; port 0 takes a free one."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
    ) -> None:
        self.host = host
        self.requested_port = port
        self.app = app
        self.port: int | None = None  # the bound port, once serving
        self.serving = asyncio.Event()

    async def serve(self) -> None:
        """Bind, serve until cancelled, then stop the thread and close the socket."""
        try:
            httpd = make_server(
                self.host,
                self.requested_port,
                self.app,
                server_class=_Server6 if ":" in self.host else _Server,
                handler_class=_QuietHandler,
            )
        except OSError as e:
            log.warning(
                "health endpoint not started: cannot listen on %s:%s (%s); the agent carries "
                "on without /metrics and /healthz — set health.port to a free port, 0 for any "
                "free port, or null to turn it off",
                self.host,
                self.requested_port,
                e.strerror or e,
                extra={"health.port": self.requested_port, "error": str(e)},
            )
            return
        self.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, name="edge-agent-health", daemon=True)
        thread.start()
        log.info(
            "health endpoint on http://%s:%s/metrics and /healthz",
            self.host,
            self.port,
            extra={"host": self.host, "port": self.port},
        )
        self.serving.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.to_thread(httpd.shutdown)
            httpd.server_close()
            thread.join(timeout=1.0)
