"""A webhook receiver for the delivery test, independent of the Rust code: it verifies each
delivery's signature with the `standardwebhooks` library (the Standard Webhooks reference
implementation for Python), misbehaves on purpose, and records what it saw.

    python3 webhook_receiver.py PORT LOG SECRETS_JSON FAIL_PERCENT SLOW_PERCENT SLOW_SECONDS

SECRETS_JSON maps endpoint id -> whsec_ secret; deliveries are POSTed to /hooks/<endpoint id>.
Each request draws: FAIL_PERCENT answer 500..503, SLOW_PERCENT sleep SLOW_SECONDS before
answering 200 (the sender times out first), the rest 200. Every request is one JSON line in LOG:
endpoint, webhook-id, sequence, the body's type, what it is about (`subject`: a ledger entry's
id, or `<type>/<payout or claim id>`), whether the signature verified, and the status answered
(or "slow")."""

import json
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, LOG, SECRETS = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
FAIL, SLOW, SLOW_SECONDS = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
hooks = {endpoint: Webhook(secret) for endpoint, secret in SECRETS.items()}
log = open(LOG, "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        endpoint = self.path.rsplit("/", 1)[-1]
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified = False
        try:
            hooks[endpoint].verify(body, headers)
            verified = True
        except (KeyError, WebhookVerificationError):
            pass
        event = json.loads(body) if body else {}
        data = event.get("data") or {}
        subject = data.get("entry_id")
        if subject is None:
            subject = "%s/%s" % (event.get("type"), data.get("payout_id") or data.get("claim_id"))
        draw = random.random() * 100
        answer = 200
        if draw < FAIL:
            answer = random.choice([500, 502, 503])
        elif draw < FAIL + SLOW:
            answer = "slow"
        record = {
            "endpoint": endpoint,
            "id": headers.get("webhook-id"),
            "sequence": event.get("sequence"),
            "type": event.get("type"),
            "entry_id": data.get("entry_id"),
            "subject": subject,
            "verified": verified,
            "answer": answer,
            "at": time.time(),
        }
        if answer == "slow":
            time.sleep(SLOW_SECONDS)
            answer = 200  # too late: the sender has given up already
        log.write(json.dumps(record) + "\n")
        try:
            self.send_response(answer if verified else 401)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender timed out and left: what it was meant to do


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
