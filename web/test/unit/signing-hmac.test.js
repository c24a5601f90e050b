// The session-profile signer of keypost.js (docs/protocol.md §4.6) against
// the golden vector the Go server is tested with
// (testdata/vectors/signing-hmac.json, written by protocol/vector_hmac_test.go
// with protocol.SignRequestHMAC): the same secret must give the
// byte-identical signature base, headers and MAC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { signRequestHMAC, importSessionSecret, signatureParams, base64url, SIGNATURE_ALG_HMAC } from '../../keypost.js';

const vectorsURL = new URL('../../../testdata/vectors/signing-hmac.json', import.meta.url);
const file = JSON.parse(readFileSync(vectorsURL, 'utf8'));
// One vector, or {vectors: [...]} should the file grow.
const vectors = Array.isArray(file.vectors) ? file.vectors : [file];

for (const [i, v] of vectors.entries()) {
  test(`hmac-sha256 signing vector ${i}: base, headers and MAC are byte-identical to Go's`, async () => {
    const secret = await importSessionSecret(v.hmac_key);
    assert.equal(secret.extractable, false, 'the session secret is non-extractable');
    assert.deepEqual(secret.usages, ['sign']);
    assert.equal(secret.algorithm.name, 'HMAC');
    assert.equal(/** @type {HmacKeyAlgorithm} */ (secret.algorithm).hash.name, 'SHA-256');
    assert.equal(Buffer.from(v.hmac_key, 'base64url').toString('hex'), v.secret_hex);

    const { headers, base } = await signRequestHMAC({
      secret,
      key: v.public_key,
      method: v.request.method,
      path: v.request.path,
      session: v.request.session,
      body: new TextEncoder().encode(v.request.body),
      nonce: v.request.nonce,
      created: v.request.created,
    });
    assert.equal(base, v.signature_base);
    assert.deepEqual(headers, Object.fromEntries(v.headers.map((h) => [h.name, h.value])));
    assert.match(headers['Signature-Input'], /;alg="hmac-sha256";/);
    const mac = Buffer.from(headers.Signature.slice(5, -1), 'base64');
    assert.equal(mac.length, 32);
    assert.equal(mac.toString('hex'), v.signature_hex);

    // And independently of WebCrypto: node:crypto's HMAC of the base.
    const want = createHmac('sha256', Buffer.from(v.secret_hex, 'hex')).update(v.signature_base).digest('base64');
    assert.equal(want, v.signature_base64);
  });
}

test('importSessionSecret takes exactly 32 bytes of strict base64url without padding', async () => {
  const raw = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const good = base64url(raw);
  await importSessionSecret(good);
  for (const bad of [
    good + '=', // padding
    good.slice(0, 42), // 31.5 bytes
    good + 'AAAA', // 35 bytes
    base64url(raw.subarray(0, 31)), // 31 bytes
    good.slice(0, 42) + 'B', // stray trailing bits
    Buffer.from(raw).toString('base64'), // standard base64 (with '/', '+' or '=')
    '',
  ]) {
    await assert.rejects(importSessionSecret(bad), undefined, JSON.stringify(bad));
  }
  // not a string
  await assert.rejects(importSessionSecret(undefined));
});

test('signature parameters name the algorithm; only the two of the profile', () => {
  const key = 'A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg';
  assert.equal(
    signatureParams(key, 7, 1767225600, SIGNATURE_ALG_HMAC),
    `("@method" "@path" "content-digest" "relay-session");keyid="${key}";alg="hmac-sha256";tag="keypost/1";nonce="7";created=1767225600`,
  );
  // not an algorithm of the profile
  assert.throws(() => signatureParams(key, 7, 1, 'hmac-sha512'));
});

test('two secrets give two MACs over the same request', async () => {
  const req = { key: 'A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg', method: 'POST', path: '/v1/ack', session: '5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10', body: new Uint8Array(), nonce: 3, created: 1 };
  const a = await signRequestHMAC({ secret: await importSessionSecret(base64url(new Uint8Array(32))), ...req });
  const b = await signRequestHMAC({ secret: await importSessionSecret(base64url(new Uint8Array(32).fill(1))), ...req });
  assert.equal(a.base, b.base);
  assert.notEqual(a.headers.Signature, b.headers.Signature);
});
