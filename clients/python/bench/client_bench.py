"""What one Python client sends: batches for a while with a window of sends
in flight, each counted when its ack came back. Prints one JSON object
(make bench's client section).

    python bench/client_bench.py --protocol websocket --target ws://127.0.0.1:8080/api/v1/events
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from raccoon_client import AsyncClient, Event


async def run(args: argparse.Namespace) -> dict:
    events = [
        Event("clientbench", bytes((i + j) % 256 for j in range(args.event_size))) for i in range(args.batch)
    ]
    result = {
        "client": "python",
        "protocol": args.protocol,
        "batch": args.batch,
        "event_size": args.event_size,
        "window": args.window,
        "acked_batches": 0,
        "failed_batches": 0,
        "retried_batches": 0,
    }
    latencies: list[float] = []
    slots = asyncio.Semaphore(args.window)

    async def one(pending, sent):
        try:
            ack = await pending
            if ack.attempts > 1:
                result["retried_batches"] += 1
            latencies.append(time.monotonic() - sent)
            result["acked_batches"] += 1
        except Exception as e:  # counted, and the first one reported
            result["failed_batches"] += 1
            result.setdefault("first_error", str(e))
        finally:
            slots.release()

    tasks = set()
    async with AsyncClient(
        args.target, protocol=args.protocol, conn_id=args.conn_id, max_pending=args.window * 2
    ) as client:
        start = time.monotonic()
        while time.monotonic() - start < args.duration:
            await slots.acquire()
            sent = time.monotonic()
            try:
                pending = await client.send(events)
            except Exception as e:
                slots.release()
                result["failed_batches"] += 1
                result.setdefault("first_error", str(e))
                continue
            task = asyncio.create_task(one(pending, sent))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        seconds = time.monotonic() - start
    latencies.sort()
    n = len(latencies)
    result["seconds"] = seconds
    result["events_per_s"] = result["acked_batches"] * args.batch / seconds
    result["ack_p50_ms"] = latencies[n // 2] * 1000 if n else 0.0
    result["ack_p99_ms"] = latencies[min(n - 1, n * 99 // 100)] * 1000 if n else 0.0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=["websocket", "rest", "grpc"], default="websocket")
    parser.add_argument("--target", required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--event-size", type=int, default=100)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--conn-id", default="client-bench-python")
    args = parser.parse_args()
    result = asyncio.run(asyncio.wait_for(run(args), args.duration + 60))
    print(json.dumps(result))
    return 0 if result["acked_batches"] else 1


if __name__ == "__main__":
    sys.exit(main())
