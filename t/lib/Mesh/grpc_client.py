# A real gRPC client (Debian's python3-grpcio) on the mesh's gRPC door,
# for t/13*.  Stubs are generated from proto/mesh.proto at test time
# (python3-grpc-tools) into --stubs DIR.  Run it with /usr/bin/python3.
#
#   grpc_client.py --port P --stubs DIR [--timeout S] [--gzip]
#       [--meta KEY=VALUE]... MODE METHOD JSON [N]
#
#   call        one call; prints {"code","details","messages",
#               "initial","trailing"} as one JSON line
#   cancel      reads N messages, then cancels the call (RST_STREAM);
#               prints {"got": N, "code": ...}
#   concurrent  N calls at once, each on its own thread and channel;
#               prints {"results": [one "call" result each]}
#   slow        reads one message, sleeps N seconds, then reads the rest
#               (with HTTP/2's default window: no BDP probing)
#   watch       a Watch call: prints each message as it comes, one JSON
#               line, then the "call" result; ends by cancelling after N
#               messages (0: never) or after a message of --until's kind
#
#   --until KIND  (watch, concurrent) cancel after a message of that kind
import argparse
import importlib
import json
import os
import subprocess
import sys
import threading
import time

import grpc
from google.protobuf import json_format

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")

REQUEST = {
    "RunTask": "TaskRequest",
    "RunPipeline": "PipelineRequest",
    "ListNodes": "ListNodesRequest",
    "Watch": "WatchRequest",
}


def stubs(folder):
    if not os.path.exists(os.path.join(folder, "mesh_pb2_grpc.py")):
        os.makedirs(folder, exist_ok=True)
        subprocess.check_call([
            sys.executable, "-m", "grpc_tools.protoc",
            "-I", os.path.join(TOP, "proto"),
            "--python_out=" + folder, "--grpc_python_out=" + folder,
            os.path.join(TOP, "proto", "mesh.proto")])
    sys.path.insert(0, folder)
    return (importlib.import_module("mesh_pb2"),
            importlib.import_module("mesh_pb2_grpc"))


def to_dict(m):
    return json_format.MessageToDict(m, preserving_proto_field_name=True)


def meta(md):
    return {k: v for k, v in (md or ())}


def start(args, pb, pbg, channel):
    stub = pbg.MeshStub(channel)
    text = args.json
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    req = json_format.ParseDict(json.loads(text),
                                getattr(pb, REQUEST[args.method])())
    kw = {"metadata": [tuple(m.split("=", 1)) for m in args.meta]}
    if args.timeout:
        kw["timeout"] = args.timeout
    if args.gzip:
        kw["compression"] = grpc.Compression.Gzip
    fn = getattr(stub, args.method)
    if args.method == "ListNodes":
        return fn.future(req, **kw)
    return fn(req, **kw)


def finish(call, messages):
    out = {"messages": [to_dict(m) for m in messages]}
    out["code"] = call.code().name
    out["details"] = call.details() or ""
    out["initial"] = meta(call.initial_metadata())
    out["trailing"] = meta(call.trailing_metadata())
    return out


def one(args, pb, pbg, pause=0, live=False):
    # a slow reader keeps HTTP/2's first window (64 KiB): no BDP probing
    opts = [("grpc.http2.bdp_probe", 0)] if pause else []
    channel = grpc.insecure_channel("127.0.0.1:%d" % args.port, options=opts)
    call = start(args, pb, pbg, channel)
    messages = []
    try:
        if args.method == "ListNodes":
            messages.append(call.result())
        else:
            for m in call:
                messages.append(m)
                if live:
                    print(json.dumps({"message": to_dict(m)}), flush=True)
                if pause:
                    time.sleep(pause)
                    pause = 0
                if ((args.until and getattr(m, "kind", None) == args.until)
                        or (args.n and live and len(messages) >= args.n)):
                    call.cancel()
                    break
    except grpc.RpcError:
        pass
    result = finish(call, messages)
    channel.close()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--timeout", type=float)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--until")
    ap.add_argument("--join", type=float,
                    help="(concurrent) seconds to wait for every call")
    ap.add_argument("mode")
    ap.add_argument("method")
    ap.add_argument("json", help="the request as JSON, or @FILE")
    ap.add_argument("n", nargs="?", type=float, default=0)
    args = ap.parse_args()
    pb, pbg = stubs(args.stubs)

    if args.mode == "call":
        print(json.dumps(one(args, pb, pbg)), flush=True)

    elif args.mode == "watch":
        print(json.dumps(one(args, pb, pbg, live=True)), flush=True)

    elif args.mode == "slow":
        print(json.dumps(one(args, pb, pbg, pause=args.n)), flush=True)

    elif args.mode == "cancel":
        channel = grpc.insecure_channel("127.0.0.1:%d" % args.port)
        call = start(args, pb, pbg, channel)
        got = 0
        for _ in call:
            got += 1
            if got >= args.n:
                call.cancel()
                break
        time.sleep(0.2)
        print(json.dumps({"got": got, "code": call.code().name}), flush=True)
        channel.close()

    elif args.mode == "concurrent":
        results = [None] * int(args.n)

        def run(i):
            results[i] = one(args, pb, pbg)

        # daemon threads and a deadline: a call that never ends is shown
        # as HUNG (null) instead of the whole client killed with nothing
        threads = [threading.Thread(target=run, args=(i,), daemon=True)
                   for i in range(int(args.n))]
        for t in threads:
            t.start()
        end = time.monotonic() + args.join if args.join else None
        for t in threads:
            t.join(None if end is None else max(0, end - time.monotonic()))
        hung = [i for i, t in enumerate(threads) if t.is_alive()]
        out = {"results": [r for r in results if r is not None]}
        if hung:
            out["hung"] = hung
        print(json.dumps(out), flush=True)

    else:
        sys.exit("unknown mode " + args.mode)


if __name__ == "__main__":
    main()
