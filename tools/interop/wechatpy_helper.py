#!/usr/bin/env python3
"""Interop helper: run wechatpy's WeCom crypto over a JSON list of cases.

Usage: .venv/bin/python wechatpy_helper.py encrypt|decrypt < cases.json > results.json

Uses wechatpy.enterprise.crypto.WeChatCrypto (wechatpy 1.8.x; later versions call the module
wechatpy.work.crypto) — the full public paths, not just the cipher:

encrypt: each case {token, encoding_aes_key, receive_id, message, timestamp, nonce, random?}
    -> {"xml": <WeChatCrypto.encrypt_message(...) reply XML: Encrypt, MsgSignature, TimeStamp,
        Nonce>}. With `random` (16 ASCII characters) the random prefix is injected by
        overriding PrpCrypto.get_random_string, so the ciphertext is reproducible.
decrypt: each case {token, encoding_aes_key, receive_id, timestamp, nonce, msg_signature,
        encrypt, body?}
    -> {"ok": true, "message": ..., "signature": <their sha1 of the four values>} or
       {"ok": false, "error": ...}. With `body` (an envelope XML) it goes through
       WeChatCrypto.decrypt_message (xmltodict + signature + decrypt + corp id check);
       without, through check_signature (the GET echostr path).
"""
import json
import sys

try:
    from wechatpy.work.crypto import WeChatCrypto, PrpCrypto  # wechatpy >= 2
except ImportError:
    from wechatpy.enterprise.crypto import WeChatCrypto, PrpCrypto  # wechatpy 1.8.x
from wechatpy.crypto import _get_signature


def fixed_random(random):
    class FixedRandomPrpCrypto(PrpCrypto):
        def get_random_string(self):
            return random

    return FixedRandomPrpCrypto


def encrypt(case):
    crypto = WeChatCrypto(case["token"], case["encoding_aes_key"], case["receive_id"])
    random = case.get("random")
    if random is None:
        xml = crypto.encrypt_message(case["message"], case["nonce"], case["timestamp"])
    else:
        xml = crypto._encrypt_message(
            case["message"], case["nonce"], case["timestamp"], fixed_random(random)
        )
    return {"xml": xml}


def decrypt(case):
    crypto = WeChatCrypto(case["token"], case["encoding_aes_key"], case["receive_id"])
    signature = _get_signature(case["token"], case["timestamp"], case["nonce"], case["encrypt"])
    try:
        if case.get("body") is not None:
            message = crypto.decrypt_message(
                case["body"], case["msg_signature"], case["timestamp"], case["nonce"]
            )
        else:
            message = crypto.check_signature(
                case["msg_signature"], case["timestamp"], case["nonce"], case["encrypt"]
            )
    except Exception as e:  # report, do not stop: the Rust side shows which case failed
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e), "signature": signature}
    return {"ok": True, "message": message, "signature": signature}


def main():
    op = sys.argv[1]
    cases = json.load(sys.stdin)
    fn = {"encrypt": encrypt, "decrypt": decrypt}[op]
    json.dump([fn(c) for c in cases], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
