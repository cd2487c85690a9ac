# A real WebSocket client (Debian's python3-websockets, a strict RFC 6455
# implementation) on the live feed, for t/102-feed-client.t.  Run it with
# /usr/bin/python3 (the python3 on PATH may not see Debian's packages).
#
#   feed_client.py burst URL CLIENTS LAST   CLIENTS clients take their
#       snapshots, "ready" is printed, then each reads until the message
#       with seq LAST; one line per client: "client I: N messages, in
#       order" (or what went wrong)
#   feed_client.py reconnect URL            one client takes its snapshot,
#       prints "ready", and when the server closes, prints "closed CODE",
#       reconnects with backoff and prints "snapshot again"
import asyncio
import json
import sys

import websockets


async def snapshot(url):
    ws = await websockets.connect(url, max_size=4 * 1024 * 1024,
                                  open_timeout=30)
    first = json.loads(await ws.recv())
    if first.get("event") != "snapshot":
        raise RuntimeError("first message is %r" % first.get("event"))
    return ws


async def read_until(i, ws, last):
    seqs = []
    try:
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if "seq" not in m:
                continue
            seqs.append(m["seq"])
            if m["seq"] >= last:
                break
    except Exception as e:  # reported, never hidden
        return "client %d: %s after %d messages" % (i, type(e).__name__,
                                                    len(seqs))
    finally:
        await ws.close()
    order = "in order" if seqs == sorted(seqs) else "out of order"
    return "client %d: %d messages, %s" % (i, len(seqs), order)


async def burst(url, clients, last):
    conns = await asyncio.gather(*[snapshot(url) for _ in range(clients)])
    print("ready", flush=True)
    lines = await asyncio.gather(*[read_until(i, ws, last)
                                   for i, ws in enumerate(conns)])
    for line in lines:
        print(line, flush=True)


async def reconnect(url):
    ws = await snapshot(url)
    print("ready", flush=True)
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 60)
    except asyncio.TimeoutError:
        print("no close within 60 s", flush=True)
        return
    except websockets.ConnectionClosed as e:
        print("closed %s" % e.rcvd.code if e.rcvd else "closed without a "
              "close frame", flush=True)
    delay = 0.1
    for _ in range(50):
        try:
            ws = await snapshot(url)
            print("snapshot again", flush=True)
            await ws.close()
            return
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2)
    print("no reconnect", flush=True)


def main():
    if sys.argv[1] == "burst":
        asyncio.run(burst(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(reconnect(sys.argv[2]))


main()
