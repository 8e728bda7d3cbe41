"""Half-open header flood (hardening issue, acceptance): N sockets to HOST:PORT, each sending
half a request header (`GET /health HTTP/1.1\r\nHost: x\r\n`) and nothing more; reports how
each ended (503 at once, closed by the server without an answer, or still open) and how long
the longest was held. Run `wrk --latency` beside it for the host's latency meanwhile.

Usage: python3 bench/half_open.py HOST PORT N [SECONDS]  (SECONDS: how long to watch, 20)
"""

import asyncio
import json
import sys
import time

HALF = b"GET /health HTTP/1.1\r\nHost: x\r\n"


async def one(host, port, watch, results):
    opened = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(HALF)
        await writer.drain()
    except OSError as e:
        results.append(("connect_failed", 0.0, str(e)))
        return
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(1024), timeout=watch)
            if not chunk:
                break
            data += chunk
    except asyncio.TimeoutError:
        results.append(("still_open", time.monotonic() - opened, ""))
        writer.close()
        return
    except OSError:
        pass
    held = time.monotonic() - opened
    kind = "refused_503" if data.startswith(b"HTTP/1.1 503") else "closed_by_server"
    results.append((kind, held, ""))
    writer.close()


async def main(host, port, count, watch):
    results = []
    started = time.monotonic()
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(host, port, watch, results)))
        if i % 200 == 199:
            await asyncio.sleep(0.01)
    opened_in = time.monotonic() - started
    await asyncio.gather(*tasks)
    summary = {}
    for kind, held, _ in results:
        entry = summary.setdefault(kind, {"count": 0, "max_held_s": 0.0})
        entry["count"] += 1
        entry["max_held_s"] = round(max(entry["max_held_s"], held), 3)
    print(json.dumps({"connections": count, "opened_in_s": round(opened_in, 3),
                      "outcomes": summary}))


if __name__ == "__main__":
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    watch = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    asyncio.run(main(host, port, count, watch))
