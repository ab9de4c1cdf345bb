"""One gRPC unary call at a time over one HTTP/2 connection with mutual TLS: the CLI's light transport.

Why it exists: `import grpc` costs the CLI ~70 ms (its C core and, through it, asyncio) before a byte
is sent, which is most of a `svc ls`. The CLI's calls are unary calls to our own managers, so this
client speaks just that part of gRPC (HTTP/2 frames, the 5-byte message prefix, grpc-status trailers)
on a blocking socket. Streams (logs) still go through grpcio.

Rules:
- the TLS is the cluster's, as grpcio's channel has it: the CA bundle's roots, this identity's
  certificate, and the manager's name (`defaults.MANAGER_TLS_NAME`) checked in its certificate;
- what failed is said the way svc.client sorts failures: `NOT_SENT` (no connection; nothing was done),
  `BROKEN` (the connection broke after the request went out: it may have been carried out),
  `TIMED_OUT` (the deadline passed), or a status the server sent, passed on as it worded it;
- the receive windows are opened wide at the start (a short-lived client never needs to open them
  again); the server's windows and frame size are obeyed when sending.
"""

from __future__ import annotations

import _thread  # the documented low-level API: its lock without threading's import (~1.5 ms)
import socket
import ssl
import struct
import time
from typing import Any

from svc.client import BROKEN, NOT_SENT, TIMED_OUT
from svc.grpcwire import hpack

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
_SETTINGS_TABLE_SIZE, _SETTINGS_PUSH, _SETTINGS_WINDOW, _SETTINGS_FRAME = 1, 2, 4, 5
_MAX_WINDOW = (1 << 31) - 1
_DEFAULT_WINDOW = 65535
_DEFAULT_FRAME = 16384

# gRPC's status codes for HTTP/2 RST_STREAM codes (gRPC's "HTTP/2 transport mapping").
_RST_STATUS = {0: 13, 1: 13, 2: 13, 3: 13, 4: 13, 5: 13, 6: 13, 7: 14, 8: 1, 9: 13, 10: 13, 11: 8, 12: 7, 13: 13}


class CallFailed(Exception):
    """A call that did not return a message: `kind` is one of the module's transport failures for a
    failure of this side's connection, else None and `code`/`details` are the server's status."""

    def __init__(self, code: int, details: str, kind: str | None = None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.kind = kind


def _transport(kind: str, details: str) -> CallFailed:
    return CallFailed(14 if kind != TIMED_OUT else 4, details, kind)


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
        self._sock: ssl.SSLSocket | None = None
        self._buf = bytearray()
        self._decoder = hpack.Decoder()
        self._next_stream = 1
        self._send_window = _DEFAULT_WINDOW  # the connection's
        self._stream_initial = _DEFAULT_WINDOW
        self._stream_window = _DEFAULT_WINDOW  # the call's stream
        self._pending: list[tuple[int, int, int, bytes]] = []
        self._max_frame = _DEFAULT_FRAME
        self._goaway_last: int | None = None
        self._heard = False  # a frame came from the server on this connection (TLS is up both ways)
        self._lock = _thread.allocate_lock()

    # ----- the call -----

    def call(self, path: str, message: bytes, timeout: float | None) -> bytes:
        """The response message of unary method `path` (/package.Service/Method) for `message`; calls
        from several threads take turns (for many at once, use grpcio)."""
        with self._lock:
            return self._call(path, message, timeout)

    def _call(self, path: str, message: bytes, timeout: float | None) -> bytes:
        deadline = time.monotonic() + timeout if timeout else None
        sent = False
        try:
            self._catch_up()
            if self._sock is None or self._goaway_last is not None:
                self._open(deadline)
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
            if deadline is not None:
                headers.append(("grpc-timeout", f"{max(1, int(timeout * 1000))}m"))  # type: ignore[operator]
            self._send(_frame(HEADERS, END_HEADERS, stream, hpack.encode(headers)), deadline)
            self._send_data(stream, struct.pack(">BI", 0, len(message)) + message, deadline)
            # Only now can the server have the whole request: a unary handler runs once it has it.
            sent = True
            return self._response(stream, deadline)
        except TimeoutError:
            self.close()
            raise _transport(TIMED_OUT, "deadline exceeded") from None
        except ssl.SSLError as exc:
            # With TLS 1.3 the server's refusal of this certificate arrives as an alert at the first
            # read, after the request went out: a refused handshake all the same, nothing was done.
            refused = not self._heard and "ALERT" in str(getattr(exc, "reason", None) or "")
            self.close()
            if not sent or refused:
                raise _transport(NOT_SENT, f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}") from None
            raise _transport(BROKEN, f"connection reset: {getattr(exc, 'reason', None) or exc}") from None
        except (ConnectionError, OSError) as exc:
            self.close()
            if not sent:
                raise _transport(NOT_SENT, f"failed to connect to all addresses: {exc.strerror or exc}") from None
            raise _transport(BROKEN, f"connection reset: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf.clear()

    # ----- connection -----

    def _catch_up(self) -> None:
        """Before a call on a connection kept from the last one: what the server sent since (a PING, a
        GOAWAY) is answered or heeded, and a connection it closed is dropped, so that this call goes
        out on a new one (a manager restarted between two calls: nothing was sent, so nothing is lost)."""
        import select

        while self._sock is not None and (self._sock.pending() or select.select([self._sock], [], [], 0)[0]):
            try:
                frame = self._read_frame(time.monotonic() + 1.0)
            except OSError:  # closed, reset, or half a frame: start again
                self.close()
                return
            self._handle(frame, -1, None)

    def _open(self, deadline: float | None) -> None:
        self.close()
        host, _, port = self.address.rpartition(":")
        # (bytes, for the same reason as the TLS name below: getaddrinfo encodes a str with idna)
        raw = socket.create_connection((host.strip("[]").encode(), int(port)), timeout=_left(deadline))  # type: ignore[arg-type]
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The name as bytes: ssl encodes a str one with the idna codec, an import of its own (~2 ms).
            sock = self._context.wrap_socket(raw, server_hostname=self._server_name.encode("ascii"))
        except BaseException:
            raw.close()
            raise
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            raise _transport(NOT_SENT, "TLS handshake failed: the server does not speak HTTP/2 (no h2 by ALPN)")
        self._sock = sock
        self._decoder = hpack.Decoder()
        self._next_stream = 1
        self._send_window = _DEFAULT_WINDOW
        self._stream_initial = _DEFAULT_WINDOW
        self._pending.clear()
        self._max_frame = _DEFAULT_FRAME
        self._goaway_last = None
        self._heard = False
        settings = struct.pack(
            ">HIHIHI", _SETTINGS_TABLE_SIZE, hpack.TABLE_SIZE, _SETTINGS_PUSH, 0, _SETTINGS_WINDOW, _MAX_WINDOW
        )
        opening = struct.pack(">I", _MAX_WINDOW - _DEFAULT_WINDOW)
        self._send(_PREFACE + _frame(SETTINGS, 0, 0, settings) + _frame(WINDOW_UPDATE, 0, 0, opening), deadline)

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
                continue
            chunk = body[pos : pos + room]
            pos += len(chunk)
            self._send_window -= len(chunk)
            self._stream_window -= len(chunk)
            last = pos >= len(body)
            self._send(_frame(DATA, END_STREAM if last else 0, stream, chunk), deadline)
            if last:
                return

    # ----- reading -----

    def _response(self, stream: int, deadline: float | None) -> bytes:
        block = bytearray()
        fields: list[tuple[str, str]] = []
        body = bytearray()
        ended = False
        while True:
            frame = self._pending.pop(0) if self._pending else self._read_frame(deadline)
            ftype, flags, sid, payload = frame
            if sid != stream or ftype not in (HEADERS, CONTINUATION, DATA):
                self._handle(frame, stream, deadline)
                continue
            if ftype == DATA:
                body += _unpad(flags, payload)
                if len(body) > self._max_receive + 5:
                    raise CallFailed(8, f"the answer is larger than the {self._max_receive} bytes allowed")
                ended = bool(flags & END_STREAM)
            else:
                if ftype == HEADERS:
                    payload = _unpad(flags, payload)
                    if flags & PRIORITY_FLAG:
                        payload = payload[5:]
                    ended = bool(flags & END_STREAM)
                block += payload
                if flags & END_HEADERS:
                    fields += self._decode(bytes(block))
                    block.clear()
            if ended and not block:
                return _result(fields, bytes(body))

    def _handle(self, frame: tuple[int, int, int, bytes], stream: int, deadline: float | None) -> None:
        """A frame read while sending, or one that is not the answer's own."""
        ftype, flags, sid, payload = frame
        if sid == stream and ftype == WINDOW_UPDATE:
            self._stream_window += struct.unpack(">I", payload[:4])[0] & _MAX_WINDOW
        elif sid == stream and ftype == RST_STREAM:
            self._reset(payload)
        elif sid == stream and ftype in (HEADERS, CONTINUATION, DATA):
            self._pending.append(frame)  # an early answer (the server refused before reading it all)
        else:
            self._control(ftype, flags, sid, payload, deadline)
            if self._goaway_last is not None and self._goaway_last < stream:
                raise _transport(NOT_SENT, "goaway received before the call was taken")

    def _decode(self, block: bytes) -> list[tuple[str, str]]:
        try:
            return self._decoder.decode(block)
        except hpack.HpackError as exc:
            self.close()
            raise _transport(BROKEN, f"the manager's answer could not be read: {exc}") from None

    def _reset(self, payload: bytes) -> None:
        code = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else 2
        if code == 7:  # REFUSED_STREAM: the server did no work on it
            raise _transport(NOT_SENT, "the stream was refused")
        raise _transport(BROKEN, f"received rst_stream with code {code}")

    def _control(self, ftype: int, flags: int, sid: int, payload: bytes, deadline: float | None) -> None:
        """Frames that are not the call's own."""
        if ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                ident, value = struct.unpack(">HI", payload[i : i + 6])
                if ident == _SETTINGS_WINDOW:
                    self._stream_window += value - self._stream_initial
                    self._stream_initial = value
                elif ident == _SETTINGS_FRAME:
                    self._max_frame = value
            self._send(_frame(SETTINGS, ACK, 0, b""), deadline)
        elif ftype == PING and not flags & ACK:
            self._send(_frame(PING, ACK, 0, payload), deadline)
        elif ftype == WINDOW_UPDATE and sid == 0:
            self._send_window += struct.unpack(">I", payload[:4])[0] & _MAX_WINDOW
        elif ftype == GOAWAY:
            self._goaway_last = struct.unpack(">I", payload[:4])[0] & _MAX_WINDOW

    def _read_frame(self, deadline: float | None) -> tuple[int, int, int, bytes]:
        head = self._read(9, deadline)
        self._heard = True
        length = int.from_bytes(head[:3], "big")
        ftype, flags, sid = head[3], head[4], int.from_bytes(head[5:9], "big") & _MAX_WINDOW
        return ftype, flags, sid, self._read(length, deadline) if length else b""

    def _read(self, n: int, deadline: float | None) -> bytes:
        assert self._sock is not None
        while len(self._buf) < n:
            self._sock.settimeout(_left(deadline))
            chunk = self._sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionResetError("the manager closed the connection")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def _frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload


def _unpad(flags: int, payload: bytes) -> bytes:
    if not flags & PADDED:
        return payload
    pad = payload[0]
    return payload[1 : len(payload) - pad]


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _result(fields: list[tuple[str, str]], body: bytes) -> bytes:
    """The message, or the failure the status says; `fields` are the headers and then the trailers."""
    values: dict[str, str] = {}
    for name, value in fields:
        values[name] = value
    status = values.get(":status", "")
    if status != "200":
        raise CallFailed(14 if status in ("502", "503", "504") else 2, f"the manager answered HTTP {status}")
    raw_code = values.get("grpc-status")
    if raw_code is None or raw_code == hpack.HUFFMAN:
        raise _transport(BROKEN, "the answer ended without a grpc-status")
    code = int(raw_code) if raw_code.isdigit() else 2
    if code != 0:
        message = values.get("grpc-message", "")
        raise CallFailed(code, _percent_decoded(message) if message != hpack.HUFFMAN else f"status {code}")
    if len(body) < 5:
        raise CallFailed(13, "the answer holds no message")
    compressed, length = struct.unpack(">BI", body[:5])
    if compressed:
        raise CallFailed(13, "the answer is compressed, which this client did not ask for")
    if len(body) != 5 + length:
        raise CallFailed(13, "the answer's message length does not match its bytes")
    return body[5:]


def _percent_decoded(text: str) -> str:
    """grpc-message is percent-encoded UTF-8 (gRPC's HTTP/2 mapping)."""
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    data = text.encode()
    while i < len(data):
        if data[i] == 0x25 and _is_hex(data[i + 1 : i + 3]):
            raw.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(data[i])
            i += 1
    return raw.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def context_for(identity: Any) -> ssl.SSLContext:
    """The cluster's mutual TLS for a client of the managers: roots and name checked, HTTP/2 by ALPN."""
    from svc import tls

    ctx = tls.ssl_context(identity, server=False)
    ctx.check_hostname = True
    ctx.set_alpn_protocols(["h2"])
    return ctx
