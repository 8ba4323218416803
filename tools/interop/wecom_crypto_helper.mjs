#!/usr/bin/env node
// Interop helper: run @wecom/crypto over a JSON list of cases.
//
// Usage: node wecom_crypto_helper.mjs encrypt|decrypt < cases.json > results.json
//
// @wecom/crypto 1.0.1 exports getSignature(token, timestamp, nonce, encrypt),
// decrypt(encodingAESKey, encrypt) -> {message, id, random} (no receive-id check: it returns the
// id) and encrypt(encodingAESKey, message, id, random = randomBytes(16)).
//
// encrypt: each case {token, encoding_aes_key, receive_id, message, timestamp, nonce, random_hex?}
//   -> {encrypt, signature}. With random_hex (16 bytes) the random prefix is injected.
// decrypt: each case {token, encoding_aes_key, timestamp, nonce, encrypt}
//   -> {ok: true, message, id, random_hex, signature} or {ok: false, error, signature}.
import { getSignature, decrypt, encrypt } from '@wecom/crypto';

const op = process.argv[2];
let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const cases = JSON.parse(input);

const results = cases.map((c) => {
  if (op === 'encrypt') {
    const random = c.random_hex == null ? undefined : Buffer.from(c.random_hex, 'hex');
    const ciphertext = encrypt(c.encoding_aes_key, c.message, c.receive_id, random);
    return { encrypt: ciphertext, signature: getSignature(c.token, c.timestamp, c.nonce, ciphertext) };
  }
  if (op === 'decrypt') {
    const signature = getSignature(c.token, c.timestamp, c.nonce, c.encrypt);
    try {
      const { message, id, random } = decrypt(c.encoding_aes_key, c.encrypt);
      return { ok: true, message, id, random_hex: random.toString('hex'), signature };
    } catch (e) {
      return { ok: false, error: String(e), signature };
    }
  }
  throw new Error(`unknown op ${op}`);
});
process.stdout.write(JSON.stringify(results));
