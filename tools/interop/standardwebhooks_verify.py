#!/usr/bin/env python3
"""Interop helper: verify forwards with the Standard Webhooks reference library (PyPI
`standardwebhooks`), exactly as a receiver would.

Usage: STANDARDWEBHOOKS_SECRET=whsec_... .venv/bin/python standardwebhooks_verify.py \
           < forwards.json > results.json

Input: a JSON list of captured forwards, each {id, timestamp, signature, body}: the
`webhook-id`, `webhook-timestamp` and `webhook-signature` headers and the body as sent.
Output: one result per forward, in order: {"ok": true} when
`Webhook(secret).verify(body, headers)` accepted it, else {"ok": false, "error": ...}.

The library checks the timestamp against this machine's clock (5 minutes either way), so run
it right after the forwards were captured. The secret comes from the environment, not argv.
"""
import json
import os
import sys

from standardwebhooks.webhooks import Webhook


def verify(webhook, item):
    headers = {
        "webhook-id": item["id"],
        "webhook-timestamp": item["timestamp"],
        "webhook-signature": item["signature"],
    }
    try:
        webhook.verify(item["body"], headers)
        return {"ok": True}
    except Exception as e:  # the library's WebhookVerificationError, or a malformed header
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def main():
    webhook = Webhook(os.environ["STANDARDWEBHOOKS_SECRET"])
    items = json.load(sys.stdin)
    json.dump([verify(webhook, item) for item in items], sys.stdout)


if __name__ == "__main__":
    main()
