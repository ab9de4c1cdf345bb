"""The floor under the leader's heartbeat cost: a bare `grpc.aio` bidirectional stream per node.

    python3 bench/grpc_stream_bench.py [--nodes 200] [--seconds 10] [--udp]

A server with the dispatcher's `Heartbeats` method and nothing else (no TLS, no interceptor, no
liveness), answering every third message as the real one does; `--nodes` streams in 2 client
processes, each sending one message a second. Reported: the server process's CPU, as % of a core
and per message. What svc's leader spends above this is its own (docs/benchmarks.md).
With --udp, the same beats as datagrams instead (svc/heartbeatwire.py: MAC checked, every beat
answered, as manager/heartbeatudp.py does), on a bare asyncio endpoint: the UDP path's floor.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import grpc
import psutil

from svc import heartbeatwire as wire
from svc.v1 import dispatcher_pb2 as dpb
from svc.v1 import dispatcher_pb2_grpc as dgrpc

ANSWER_EVERY = 3


class Beats(dgrpc.DispatcherServicer):
    async def Heartbeats(self, requests: Any, context: Any) -> Any:
        n = 0
        async for _ in requests:
            n += 1
            if n % ANSWER_EVERY == 1:
                yield dpb.HeartbeatResponse(period_seconds=1.0)


def serve(ports: Any) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        dgrpc.add_DispatcherServicer_to_server(Beats(), server)
        ports.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


KEY = bytes(32)


class Endpoint(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.last: dict[str, int] = {}
        self.answer = dpb.HeartbeatResponse(period_seconds=1.0).SerializeToString()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        f = wire.parse(data)
        if f is None or not wire.authentic(KEY, f) or not wire.fresh(f.counter, self.last.get(f.session_id, 0)):
            return
        self.last[f.session_id] = f.counter
        self.transport.sendto(wire.seal(KEY, wire.ANSWER, f.node_id, f.session_id, f.counter, self.answer), addr)


def serve_udp(ports: Any, drain: float) -> None:
    async def main() -> None:
        if drain:  # read on a timer, as the leader's ticker does: one wake-up per tick, not per datagram
            import socket

            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            ep = Endpoint()
            ep.connection_made(sock)
            ports.put(sock.getsockname()[1])
            while True:
                await asyncio.sleep(drain)
                while True:
                    try:
                        data, addr = sock.recvfrom(2048)
                    except BlockingIOError:
                        break
                    ep.datagram_received(data, addr)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Endpoint, local_addr=("127.0.0.1", 0))
        ports.put(transport.get_extra_info("sockname")[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def beat_udp(port: int, streams: int, seconds: float) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def one(i: int) -> None:
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=("127.0.0.1", port)
            )
            await asyncio.sleep(i / streams)  # spread over the second
            end, n, sid = time.monotonic() + seconds, 0, f"{os.getpid()}-{i}"
            while time.monotonic() < end:
                n += 1
                transport.sendto(wire.seal(KEY, wire.BEAT, "n" * 25, sid, n, b"r" * 64))
                await asyncio.sleep(1.0)

        await asyncio.gather(*(one(i) for i in range(streams)))

    asyncio.run(main())


def beat(port: int, streams: int, seconds: float) -> None:
    async def main() -> None:
        stub = dgrpc.DispatcherStub(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))

        async def one(i: int) -> None:
            async def requests() -> Any:
                await asyncio.sleep(i / streams)  # spread over the second
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    yield dpb.HeartbeatRequest(session_id="s" * 32)
                    await asyncio.sleep(1.0)

            async for _ in stub.Heartbeats(requests()):
                pass

        await asyncio.gather(*(one(i) for i in range(streams)))

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--udp", action="store_true", help="beats as MAC'd UDP datagrams, not stream messages")
    ap.add_argument("--drain", type=float, default=0.0, help="with --udp: read the socket every DRAIN seconds")
    a = ap.parse_args()
    ports: Any = mp.Queue()
    ap_args = (ports, a.drain) if a.udp else (ports,)
    server = mp.Process(target=serve_udp if a.udp else serve, args=ap_args, daemon=True)
    server.start()
    port = ports.get(timeout=30)
    sender = beat_udp if a.udp else beat
    clients = [mp.Process(target=sender, args=(port, a.nodes // 2, a.seconds + 4)) for _ in range(2)]
    for c in clients:
        c.start()
    proc = psutil.Process(server.pid)
    time.sleep(3)  # every stream open
    t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
    time.sleep(a.seconds)
    share = (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0)
    for c in clients:
        c.join(timeout=a.seconds + 30)
    server.terminate()
    per_message = share / a.nodes * 1000
    what = (f"senders, read every {a.drain:g}s" if a.drain else "senders") if a.udp else "streams"
    print(f"{a.nodes} {what} x 1 msg/s: server {share * 100:.1f} % of a core, {per_message:.3f} ms per message")


if __name__ == "__main__":
    main()
