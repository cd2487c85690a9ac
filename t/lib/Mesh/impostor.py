#!/usr/bin/python3
"""A fake orchestrator for t/150: answers every request 200 {} and appends
each one (method, path, headers, body) as a JSON line to a capture file,
which is what an impostor announcing itself over mDNS would learn.  Not
knowing the secret, it cannot send X-Mesh-Reply-Signature: its 200s do
not keep an agent (t/150 checks that they do not).

usage: impostor.py ADDRESS PORT CAPTURE_FILE
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY_MAX = 1 << 20


class Capture(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > BODY_MAX:
            self.send_error(413)
            return
        body = self.rfile.read(n) if n else b""
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        with open(self.server.capture, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        out = b"{}\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, fmt, *args):
        sys.stderr.write("impostor: " + (fmt % args) + "\n")


def main():
    server = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Capture)
    server.capture = sys.argv[3]
    print("impostor listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
