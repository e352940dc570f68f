#!/usr/bin/env python3
"""Example app behind hookguard, in Python with the standard library only.

hookguard has already verified the provider's signature, dropped forgeries,
replays and duplicates, and it signs every request it forwards with Standard
Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) using the
route's forward.signing_secret. This app checks that signature (the Standard
Webhooks scheme, written out below with hmac, hashlib and base64), so only
requests that came through hookguard are accepted, then reads the normalized
X-Hookguard-* headers, the same for every provider.

Environment:
  LISTEN          address to listen on (default :9000)
  FORWARD_SECRET  the route's forward.signing_secret (whsec_...)

Logs one JSON line per event; answers 2xx JSON (Tencent's acknowledgement for
Tencent callbacks); 401 when the forwarding signature does not verify.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 << 20
# Standard Webhooks libraries accept a webhook-timestamp this far from now,
# in either direction.
TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"
# Tencent callbacks expect this answer. For "Before" callbacks ErrorCode
# decides (0 allow, 1 reject, 2 discard); hookguard returns it unchanged.
TENCENT_ACK = b'{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}'
_DIGITS = re.compile(r"[0-9]{1,19}")


class VerificationError(Exception):
    """The request's Standard Webhooks signature does not verify."""


def parse_secret(secret):
    """Returns the key bytes of a whsec_ secret."""
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("FORWARD_SECRET is not whsec_ followed by base64")
    if not key:
        raise ValueError("FORWARD_SECRET is empty")
    return key


def verify(key, headers, body, now=None):
    """Checks a Standard Webhooks signature; raises VerificationError.

    The signed content is webhook-id + "." + webhook-timestamp + "." + body,
    signed with HMAC-SHA256; webhook-signature is a space-separated list of
    "v1,<base64>" entries, one of which must match.
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    # Several webhook-signature lines are one list.
    signatures = " ".join(headers.get_all("webhook-signature") or [])
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing required headers")
    if not _DIGITS.fullmatch(timestamp):
        raise VerificationError("invalid webhook-timestamp")
    ts = int(timestamp)
    now = time.time() if now is None else now
    if now - ts > TOLERANCE_SECONDS:
        raise VerificationError("message timestamp too old")
    if ts - now > TOLERANCE_SECONDS:
        raise VerificationError("message timestamp too new")

    # http.server decodes header bytes as Latin-1: encode them back the same
    # way to sign exactly the bytes that were sent.
    signed = msg_id.encode("latin-1") + b"." + str(ts).encode() + b"." + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        if version != "v1":
            continue
        try:
            got = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(got, expected):
            return
    raise VerificationError("no matching signature found")


def log(msg, **fields):
    line = {"time": datetime.now(timezone.utc).isoformat(), "msg": msg}
    line.update(fields)
    print(json.dumps(line), flush=True)


class Handler(BaseHTTPRequestHandler):
    key = b""
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass  # one line per event is logged below instead of an access log

    def reply(self, status, body, content_type="application/json", extra=()):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, b"ok\n", content_type="text/plain")
            return
        self.reply(405, {"error": "POST only"}, extra=[("Allow", "POST")])

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None or not _DIGITS.fullmatch(length):
            self.close_connection = True
            self.reply(411, {"error": "Content-Length required"})
            return
        if int(length) > MAX_BODY:
            self.close_connection = True
            self.reply(413, {"error": "body too large"})
            return
        # Keep the raw bytes: the signature covers them exactly.
        body = self.rfile.read(int(length))
        path = self.path.split("?", 1)[0]
        try:
            verify(self.key, self.headers, body)
        except VerificationError as err:
            log("rejected", path=path, reason=str(err), remote=self.client_address[0])
            self.reply(401, {"error": "invalid forwarding signature"})
            return

        # The same headers for every provider.
        h = self.headers
        event = {
            "provider": h.get("X-Hookguard-Provider", ""),
            "route": h.get("X-Hookguard-Route", ""),
            "event_id": h.get("X-Hookguard-Event-Id", ""),
            "type": h.get("X-Hookguard-Event-Type", ""),
            "event_time": h.get("X-Hookguard-Event-Time", ""),
            "key_id": h.get("X-Hookguard-Key-Id", ""),
        }
        log("event", **event, content_type=h.get("Content-Type", ""), bytes=len(body))

        # Handle the event here. hookguard forwards an event again only if
        # this app did not answer 2xx: keep the handling idempotent on the
        # event id.

        if event["provider"] == "tencent":
            self.reply(200, TENCENT_ACK)
            return
        self.reply(200, {"ok": True, "event_id": event["event_id"]})


def parse_listen(addr):
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("LISTEN %r is not host:port" % addr)
    return host.strip("[]"), int(port)


def main():
    try:
        Handler.key = parse_secret(os.environ.get("FORWARD_SECRET", ""))
        host, port = parse_listen(os.environ.get("LISTEN", ":9000"))
    except ValueError as err:
        print("python-backend: %s" % err, file=sys.stderr)
        return 1
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    addr_host, addr_port = server.server_address[:2]
    log("listening", addr="%s:%d" % (addr_host, addr_port))

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
