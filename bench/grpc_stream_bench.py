"""The floor under the leader's heartbeat cost: a bare `grpc.aio` bidirectional stream per node.

    python3 bench/grpc_stream_bench.py [--nodes 200] [--seconds 10]

A server with the dispatcher's `Heartbeats` method and nothing else (no TLS, no interceptor, no
liveness), answering every third message as the real one does; `--nodes` streams in 2 client
processes, each sending one message a second. Reported: the server process's CPU, as % of a core
and per message. What svc's leader spends above this is its own (docs/benchmarks.md).
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
    a = ap.parse_args()
    ports: Any = mp.Queue()
    server = mp.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=30)
    clients = [mp.Process(target=beat, args=(port, a.nodes // 2, a.seconds + 4)) for _ in range(2)]
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
    print(f"{a.nodes} streams x 1 msg/s: server {share * 100:.1f} % of a core, {per_message:.3f} ms per message")


if __name__ == "__main__":
    main()
