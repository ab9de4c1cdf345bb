"""One gRPC unary call at a time over one HTTP/2 connection with mutual TLS: the CLI's light transport.

Why it exists: `import grpc` costs the CLI ~70 ms (its C core and, through it, asyncio) before a byte
is sent, which is most of a `svc ls`. The CLI's calls are unary calls to our own managers, so this
client speaks just that part of gRPC (frames.py, answer.py, hpack.py) on a blocking socket. Streams
(logs) still go through grpcio.

Rules:
- the TLS is the cluster's, as grpcio's channel has it: the CA bundle's roots, this identity's
  certificate, and the manager's name (`defaults.MANAGER_TLS_NAME`) checked in its certificate;
- what failed is said the way svc.client sorts failures: `NOT_SENT` only where the server cannot
  have carried the request out (no connection, a refused handshake, a refused stream, a GOAWAY
  below it), `BROKEN` where it may have (the connection broke, or a frame made no sense, after the
  request's last byte went out), `TIMED_OUT` (the call's deadline passed), or the status the
  server sent, passed on as it worded it;
- a connection is kept between one command's calls only after a call that ended cleanly; before
  the next call, what the server sent in between is read (a GOAWAY, a close);
- a call that hears nothing for GRPC_KEEPALIVE_SECONDS pings, and one whose ping is not answered
  within GRPC_KEEPALIVE_TIMEOUT_SECONDS is broken, as grpcio's channel has it;
- flow control: this side's windows are opened wide and topped up well before they run out;
  the server's windows and frame size are obeyed when sending.
"""

from __future__ import annotations

import _thread  # the documented low-level API: a lock without threading's import (~1.5 ms)
import os
import socket
import ssl
import struct
import time
from typing import Any

from svc import defaults
from svc.client import BROKEN, NOT_SENT, TIMED_OUT
from svc.grpcwire import answer, hpack
from svc.grpcwire import frames as f

_TOP_UP = 1 << 30  # received bytes after which the connection's receive window is opened again
_CONNECT_SECONDS = 20.0  # grpc core's own cap on a connection attempt


class CallFailed(Exception):
    """A call that did not return a message: `kind` is one of the module's transport failures for a
    failure of this side's connection, else None and `code`/`details` are the server's status."""

    def __init__(self, code: int, details: str, kind: str | None = None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.kind = kind


def _transport(kind: str, details: str) -> CallFailed:
    return CallFailed(4 if kind == TIMED_OUT else 14, details, kind)


class _EarlyAnswer(Exception):
    """The server ended the stream before the request was all sent (it refused it early)."""


class Connection:
    """A client connection to `address` (HOST:PORT); opened on the first call, one call at a time."""

    def __init__(
        self, address: str, context: ssl.SSLContext, server_name: str, max_receive: int, user_agent: str = "svc"
    ) -> None:
        self.address = address
        self._context = context
        self._server_name = server_name
        self._max_receive = max_receive
        self._user_agent = user_agent
        self._lock = _thread.allocate_lock()
        self._sock: ssl.SSLSocket | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._buf = bytearray()
        self._decoder = hpack.Decoder()
        self._next_stream = 1
        self._send_window = f.DEFAULT_WINDOW  # the connection's, for sending
        self._stream_initial = f.DEFAULT_WINDOW
        self._stream_window = f.DEFAULT_WINDOW  # the call's stream's
        self._max_frame = f.DEFAULT_FRAME
        self._received = 0  # DATA bytes since the receive window was last topped up
        self._pending: list[f.Frame] = []  # the call's frames read while still sending
        self._early = False
        self._goaway_last: int | None = None
        self._heard = False  # a frame came from the server on this connection (TLS is up both ways)
        self._ping_sent = 0.0

    # ----- the call -----

    def call(self, path: str, message: bytes, timeout: float | None) -> bytes:
        """The response message of unary method `path` (/package.Service/Method) for `message`; calls
        from several threads take turns (for many at once, use grpcio)."""
        if not self._lock.acquire(True, timeout if timeout else -1):
            raise _transport(TIMED_OUT, "deadline exceeded")
        try:
            return self._call(path, message, timeout)
        finally:
            self._lock.release()

    def _call(self, path: str, message: bytes, timeout: float | None) -> bytes:
        deadline = time.monotonic() + timeout if timeout else None
        phase = "connect"  # connect -> send -> sent
        try:
            self._catch_up()
            if self._sock is None or self._goaway_last is not None:
                self._open(deadline)
            phase = "send"
            stream = self._next_stream
            self._next_stream += 2
            headers = [
                (":method", "POST"),
                (":scheme", "https"),
                (":path", path),
                (":authority", self._server_name),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("user-agent", self._user_agent),
            ]
            if timeout:
                headers.append(("grpc-timeout", answer.timeout_header(timeout)))
            self._send(f.frame(f.HEADERS, f.END_HEADERS, stream, hpack.encode(headers)), deadline)
            try:
                self._send_data(stream, struct.pack(">BI", 0, len(message)) + message, deadline)
            except _EarlyAnswer:
                pass  # the answer (a status) is in _pending
            else:
                # Only now can the server have the whole request: a unary handler runs once it has it.
                phase = "sent"
            return self._answer(stream, deadline)
        except answer.StatusError as exc:  # the server's answer: the stream ended, the connection is fine
            raise CallFailed(exc.code, exc.details) from None
        except CallFailed:
            self.close()
            raise
        except (answer.Unreadable, f.ProtocolError, hpack.HpackError) as exc:
            self.close()
            raise _transport(BROKEN if phase == "sent" else NOT_SENT, f"unreadable answer: {exc}") from None
        except TimeoutError:
            self.close()
            if phase == "connect":
                raise _transport(NOT_SENT, "connection timed out") from None
            raise _transport(TIMED_OUT, "deadline exceeded") from None
        except ssl.SSLError as exc:
            # With TLS 1.3 the server's refusal of this certificate arrives as an alert at the first
            # read, after the request went out: a refused handshake all the same, nothing was done.
            reason = getattr(exc, "reason", None) or str(exc)
            refused = not self._heard and "ALERT" in reason
            self.close()
            if phase != "sent" or refused:
                raise _transport(NOT_SENT, f"TLS handshake failed: {reason}") from None
            raise _transport(BROKEN, f"connection reset: {reason}") from None
        except OSError as exc:
            self.close()
            if phase != "sent":
                raise _transport(NOT_SENT, f"failed to connect to all addresses: {exc.strerror or exc}") from None
            raise _transport(BROKEN, f"connection reset: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf = bytearray()

    # ----- connection -----

    def _catch_up(self) -> None:
        """Before a call on a connection kept from the last one: what the server sent since (a PING, a
        GOAWAY) is answered or heeded, and a connection it closed is dropped, so that this call goes
        out on a new one (a manager restarted between two calls: nothing was sent, so nothing is lost)."""
        import select

        while self._sock is not None:
            if not (self._buf or self._sock.pending()):
                poll = select.poll()
                poll.register(self._sock, select.POLLIN)
                if not poll.poll(0):
                    return
            try:
                soon = time.monotonic() + 1.0
                self._handle(self._read_frame(soon), -1, soon)
            except (OSError, CallFailed, f.ProtocolError):  # closed, reset, or no sense: start again
                self.close()
                return

    def _open(self, deadline: float | None) -> None:
        self.close()
        self._reset_state()
        host, _, port = self.address.rpartition(":")
        connect_by = min(deadline or float("inf"), time.monotonic() + _CONNECT_SECONDS)
        # The names as bytes: getaddrinfo and ssl encode a str one with the idna codec (an import, ~2 ms).
        raw = socket.create_connection((host.strip("[]").encode(), int(port)), timeout=_left(connect_by))  # type: ignore[arg-type]
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = self._context.wrap_socket(raw, server_hostname=self._server_name.encode("ascii"))
        except BaseException:
            raw.close()
            raise
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            raise _transport(NOT_SENT, "TLS handshake failed: the server does not speak HTTP/2 (no h2 by ALPN)")
        self._sock = sock
        opening = f.settings(
            [(f.SETTINGS_TABLE_SIZE, hpack.TABLE_SIZE), (f.SETTINGS_PUSH, 0), (f.SETTINGS_WINDOW, f.MAX_WINDOW)]
        )
        self._send(f.PREFACE + opening + f.window_update(0, f.MAX_WINDOW - f.DEFAULT_WINDOW), deadline)

    def _send(self, data: bytes, deadline: float | None) -> None:
        assert self._sock is not None
        self._sock.settimeout(_left(deadline))
        self._sock.sendall(data)

    def _send_data(self, stream: int, body: bytes, deadline: float | None) -> None:
        """DATA frames within the server's windows and frame size; the last one ends the stream."""
        self._stream_window = self._stream_initial
        pos = 0
        while True:
            room = min(self._send_window, self._stream_window, self._max_frame, len(body) - pos)
            if room <= 0 and pos < len(body):
                self._handle(self._read_frame(deadline), stream, deadline)
                if self._early:
                    raise _EarlyAnswer
                continue
            chunk = body[pos : pos + room]
            pos += len(chunk)
            self._send_window -= len(chunk)
            self._stream_window -= len(chunk)
            last = pos >= len(body)
            self._send(f.frame(f.DATA, f.END_STREAM if last else 0, stream, chunk), deadline)
            if last:
                return

    # ----- reading -----

    def _answer(self, stream: int, deadline: float | None) -> bytes:
        block = bytearray()
        fields: list[tuple[str, str]] = []
        body = bytearray()
        ended = False
        while True:
            frame = self._pending.pop(0) if self._pending else self._read_frame(deadline)
            ftype, flags, sid, payload = frame
            if sid != stream or ftype not in (f.HEADERS, f.CONTINUATION, f.DATA):
                self._handle(frame, stream, deadline)
                continue
            if ftype == f.DATA:
                body += f.unpadded(flags, payload)
                if len(body) > self._max_receive + 5:  # (grpcio's code for it; the connection is closed)
                    raise CallFailed(8, f"the answer is larger than the {self._max_receive} bytes allowed")
                ended = bool(flags & f.END_STREAM)
            else:
                if ftype == f.HEADERS:
                    payload = f.header_block(flags, payload)
                    ended = bool(flags & f.END_STREAM)
                block += payload
                if flags & f.END_HEADERS:
                    fields += self._decoder.decode(bytes(block))
                    block.clear()
            if ended and not block:
                return answer.message(fields, bytes(body), self._max_receive)

    def _handle(self, frame: f.Frame, stream: int, deadline: float | None) -> None:
        """A frame read while sending, or one that is not the answer's own."""
        ftype, flags, sid, payload = frame
        if sid == stream and ftype == f.WINDOW_UPDATE:
            self._stream_window += f.u32(payload, "WINDOW_UPDATE")
        elif sid == stream and ftype == f.RST_STREAM:
            code = f.u32(payload, "RST_STREAM")
            if code == f.NO_ERROR and self._early:
                return  # after an early answer, the server's way of saying it will read no more
            if code == f.REFUSED_STREAM:  # the server did no work on it
                raise _transport(NOT_SENT, "the stream was refused")
            raise _transport(BROKEN, f"received rst_stream with code {code}")
        elif sid == stream and ftype in (f.HEADERS, f.CONTINUATION, f.DATA):
            self._pending.append(frame)  # an answer before the request was all sent
            if flags & f.END_STREAM and ftype != f.CONTINUATION:
                self._early = True
        elif ftype == f.SETTINGS and not flags & f.ACK:
            for ident, value in f.settings_pairs(payload):
                if ident == f.SETTINGS_WINDOW:
                    self._stream_window += value - self._stream_initial
                    self._stream_initial = value
                elif ident == f.SETTINGS_FRAME:
                    self._max_frame = value
            self._send(f.frame(f.SETTINGS, f.ACK, 0, b""), deadline)
        elif ftype == f.PING and not flags & f.ACK:
            self._send(f.frame(f.PING, f.ACK, 0, payload), deadline)
        elif ftype == f.WINDOW_UPDATE and sid == 0:
            self._send_window += f.u32(payload, "WINDOW_UPDATE")
        elif ftype == f.GOAWAY:
            self._goaway_last = f.u32(payload, "GOAWAY")
            if self._goaway_last < stream:
                raise _transport(NOT_SENT, "goaway received before the call was taken")

    def _read_frame(self, deadline: float | None) -> f.Frame:
        length, ftype, flags, sid = f.header(self._read(9, deadline))
        payload = self._read(length, deadline) if length else b""
        self._heard = True
        if ftype == f.DATA:
            self._received += length
            if self._received >= _TOP_UP:
                self._send(f.window_update(0, self._received), deadline)
                self._received = 0
        return ftype, flags, sid, payload

    def _read(self, n: int, deadline: float | None) -> bytes:
        """n bytes; while nothing comes, a ping after the keepalive period, and broken without its answer."""
        assert self._sock is not None
        while len(self._buf) < n:
            left = _left(deadline)
            quiet = defaults.GRPC_KEEPALIVE_TIMEOUT_SECONDS if self._ping_sent else defaults.GRPC_KEEPALIVE_SECONDS
            wait = quiet if left is None else min(left, quiet)
            self._sock.settimeout(wait)
            try:
                chunk = self._sock.recv(max(65536, n - len(self._buf)))
            except TimeoutError:
                if left is not None and left <= wait:
                    raise
                if self._ping_sent:
                    raise ConnectionResetError("keepalive watchdog timeout: the manager does not answer") from None
                self._ping_sent = time.monotonic()
                self._send(f.frame(f.PING, 0, 0, os.urandom(8)), deadline)
                continue
            if not chunk:
                raise ConnectionResetError("the manager closed the connection")
            self._ping_sent = 0.0  # anything heard is as good as the ping's answer
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def context_for(identity: Any) -> ssl.SSLContext:
    """The cluster's mutual TLS for a client of the managers: roots and name checked, HTTP/2 by ALPN."""
    from svc import tls

    ctx = tls.ssl_context(identity, server=False)
    ctx.check_hostname = True
    ctx.set_alpn_protocols(["h2"])
    return ctx
