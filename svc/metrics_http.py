"""The daemons' HTTP endpoint: `/metrics` for Prometheus, extra JSON routes, a landing page at `/`.

A plain threaded HTTP server from the standard library: scrapes are rare and small, and
the collectors build values at scrape time from current state.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, disable_created_metrics, generate_latest

from svc.errors import Unavailable
from svc.httpserver import QuickBindHTTPServer
from svc.netaddr import split_addr

log = logging.getLogger(__name__)

JsonRoute = Callable[[], Any]


# `_created` series double the output and no dashboard of ours uses them.
disable_created_metrics()


class MetricsServer:
    def __init__(
        self, addr: str, registry: CollectorRegistry, title: str, routes: dict[str, JsonRoute] | None = None
    ) -> None:
        self.addr = addr
        self.registry = registry
        self.title = title
        self.routes = routes or {}
        self._server: QuickBindHTTPServer | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        self._send(200, CONTENT_TYPE_LATEST, generate_latest(outer.registry))
                    elif path in outer.routes:
                        body = json.dumps(outer.routes[path]()).encode()
                        self._send(200, "application/json", body)
                    elif path == "/":
                        links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in ["/metrics", *outer.routes])
                        page = f"<html><head><title>{outer.title}</title></head><body><h1>{outer.title}</h1>"
                        self._send(200, "text/html; charset=utf-8", (page + f"<ul>{links}</ul></body></html>").encode())
                    else:
                        self._send(404, "text/plain", b"not found\n")
                except Exception:
                    log.exception("serving %s", path)
                    self._send(500, "text/plain", b"internal error\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        host, port = split_addr(self.addr, "metrics address")
        try:
            self._server = QuickBindHTTPServer((host, port), self._handler())
        except OSError as exc:
            raise Unavailable(f"cannot serve metrics on {self.addr}: {exc.strerror}") from None
        threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics", host, self._server.server_address[1])

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else 0

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
