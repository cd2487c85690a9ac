# The live feed under load: CLIENTS WebSocket clients (python3-websockets)
# on one nginx worker each receive every event of a burst of EVENTS
# messages published on Redis.  Prints the figures for bench/RESULTS.md.
#
#   /usr/bin/python3 feed_bench.py URL REDIS_PORT WORKER_PID CLIENTS EVENTS
import asyncio
import os
import socket
import sys
import time

import websockets


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def publish(port, n, pad):
    out = []
    for i in range(1, n + 1):
        kind, chan = (("task.queued", "mesh:tasks") if i % 2
                      else ("node.load", "mesh:events"))
        msg = '{"event":"%s","ts":%d,"seq":%d,"pad":"%s"}' % (kind, i, i,
                                                               pad)
        out.append("*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                   % (len(chan), chan, len(msg), msg))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall("".join(out).encode())
    got = b""
    while got.count(b"\r\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()


async def reader(ws, n, last_tag):
    count = 0
    while True:
        try:
            m = await asyncio.wait_for(ws.recv(), 120)
        except websockets.ConnectionClosed as e:
            print("a client was closed: %s" % e)
            return count
        if '"seq"' in m:
            count += 1
            if last_tag in m:
                return count


async def main():
    url, rport, wpid, clients, events = (sys.argv[1], int(sys.argv[2]),
                                         int(sys.argv[3]), int(sys.argv[4]),
                                         int(sys.argv[5]))
    before = rss_kb(wpid)
    conns = []
    for i in range(clients):
        ws = await websockets.connect(url, max_size=2 ** 22, open_timeout=60,
                                   ping_interval=None)
        await ws.recv()                     # the snapshot
        conns.append(ws)
    after = rss_kb(wpid)
    last_tag = '"seq":%d,' % events
    tasks = [asyncio.create_task(reader(ws, events, last_tag))
             for ws in conns]
    c0 = cpu_s(wpid)
    t0 = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, publish, rport,
                                                     events, "x" * 100)
    counts = await asyncio.gather(*tasks)
    dt = time.monotonic() - t0
    cpu = cpu_s(wpid) - c0
    full = sum(1 for c in counts if c == events)
    print("clients %d, events %d, clients with every event %d"
          % (clients, events, full))
    print("delivered %d messages in %.2f s: %.0f messages/s"
          % (sum(counts), dt, sum(counts) / dt))
    print("nginx worker CPU %.2f s for them: %.0f messages per CPU second"
          % (cpu, sum(counts) / cpu if cpu else 0))
    print("worker RSS %d kB before, %d kB with the clients: %.1f kB "
          "per client" % (before, after, (after - before) / clients))
    for ws in conns:
        await ws.close()


asyncio.run(main())
