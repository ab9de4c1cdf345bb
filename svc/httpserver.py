"""The stdlib's threaded HTTP server, binding without a name lookup: the base of svc's own endpoints.

Rule: `http.server.HTTPServer.server_bind` resolves its own address (`socket.getfqdn`) for a name no
handler of ours uses; where the resolver does not answer (a namespace host, an offline Pi) that alone
held a daemon's start for 10 s. Every HTTP server svc runs (metrics, image peers) binds through this.
"""

from __future__ import annotations

import socketserver
from http.server import ThreadingHTTPServer


class QuickBindHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
