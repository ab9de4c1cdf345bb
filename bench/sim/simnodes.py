"""Run N SIMULATED nodes in one process: real agents (join, register, heartbeat, assignments,
status reports) over a SimulatedEngine each. For the control-plane benchmark only.

    python3 bench/sim/simnodes.py --count 200 --join 127.0.0.1:4242 --token SWMTKN-1-... --base DIR

Every second it prints one JSON line: {"nodes": N, "sessions": up, "running": containers running}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from simengine import SimulatedEngine  # noqa: E402

from node.agent.agent import Agent, join  # noqa: E402


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--join", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--prefix", default="sim")
    p.add_argument("--offset", type=int, default=0, help="number of the first node (several processes)")
    args = p.parse_args()
    loop = asyncio.get_running_loop()
    from concurrent.futures import ThreadPoolExecutor

    loop.set_default_executor(ThreadPoolExecutor(max_workers=16))
    agents = []
    engines = []
    sem = asyncio.Semaphore(20)

    async def start(i: int) -> None:
        name = f"{args.prefix}-{i:04d}"
        state = os.path.join(args.base, name)
        engine = SimulatedEngine()
        async with sem:
            if not os.path.exists(os.path.join(state, "tls", "cert.pem")):
                await join(state, args.join, args.token, name)
            agent = Agent(engine, state, args.join, "", name, {}, f"10.99.{i // 250}.{i % 250 + 1}", "")
            await agent.start()
        agents.append(agent)
        engines.append(engine)

    await asyncio.gather(*(start(i) for i in range(args.offset, args.offset + args.count)))
    while True:
        up = sum(1 for a in agents if a.session and a.session.session_id)
        running = sum(e.running() for e in engines)
        print(json.dumps({"nodes": len(agents), "sessions": up, "running": running}), flush=True)
        await asyncio.sleep(1.0)


if __name__ == "__main__":
    asyncio.run(main())
