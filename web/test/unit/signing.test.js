// The signer of keypost.js against the golden vectors the Go server is
// tested with (testdata/vectors/signing.json at the module root): the same
// seed must give the byte-identical signature base, headers and signature.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import {
  importSeed,
  exportPublicKey,
  signRequest,
  contentDigest,
  signatureParams,
  signatureBase,
  base64url,
  fromBase64url,
  isKey,
  backoffDelay,
  FINAL_CLOSINGS,
} from '../../keypost.js';

const vectorsURL = new URL('../../../testdata/vectors/signing.json', import.meta.url);
const file = JSON.parse(readFileSync(vectorsURL, 'utf8'));
// One vector, or {vectors: [...]} should the file grow.
const vectors = Array.isArray(file.vectors) ? file.vectors : [file];

const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));

for (const [i, v] of vectors.entries()) {
  test(`signing vector ${i}: key, base, headers and signature are byte-identical`, async () => {
    const pair = await importSeed(hex(v.private_key_seed_hex));
    assert.equal(pair.privateKey.extractable, false, 'the imported private key is non-extractable');
    const key = await exportPublicKey(pair.publicKey);
    assert.equal(key, v.public_key);
    assert.equal(Buffer.from(fromBase64url(key)).toString('hex'), v.public_key_hex);

    const body = new TextEncoder().encode(v.request.body);
    const { headers, base } = await signRequest({
      privateKey: pair.privateKey,
      key,
      method: v.request.method,
      path: v.request.path,
      session: v.request.session,
      body,
      nonce: v.request.nonce,
      created: v.request.created,
    });
    assert.equal(base, v.signature_base);
    const want = Object.fromEntries(v.headers.map((h) => [h.name, h.value]));
    assert.deepEqual(headers, want);
    assert.equal(headers.Signature, `sig=:${v.signature_base64}:`);
    assert.equal(Buffer.from(headers.Signature.slice(5, -1), 'base64').toString('hex'), v.signature_hex);
    if (v.body_sha256_hex) {
      assert.equal(headers['Content-Digest'], `sha-256=:${Buffer.from(v.body_sha256_hex, 'hex').toString('base64')}:`);
    }

    // And independently of WebCrypto: node:crypto verifies it with the
    // vector's public key.
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(v.public_key_hex, 'hex')]);
    const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    assert.ok(verify(null, Buffer.from(v.signature_base), pub, Buffer.from(v.signature_base64, 'base64')));
  });
}

test('content digest of the empty body (RFC 9530 example value)', async () => {
  assert.equal(await contentDigest(new Uint8Array()), 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
});

test('signature parameters are in the canonical order keyid, alg, tag, nonce, created', () => {
  const key = 'A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg';
  assert.equal(
    signatureParams(key, 42, 1767225600),
    `("@method" "@path" "content-digest" "relay-session");keyid="${key}";alg="ed25519";tag="keypost/1";nonce="42";created=1767225600`,
  );
  assert.throws(() => signatureParams(key, 0, 1));
  assert.throws(() => signatureParams(key, 2 ** 53, 1));
});

test('a signature base refuses line breaks and non-ASCII in a component', () => {
  const p = { method: 'POST', path: '/v1/ack', contentDigest: 'sha-256=:x:', params: '()' };
  assert.throws(() => signatureBase({ ...p, session: 'a\nb' }));
  assert.throws(() => signatureBase({ ...p, session: 'sé' }));
  assert.match(signatureBase({ ...p, session: ' 5f0c ' }), /"relay-session": 5f0c\n/);
});

test('keys: base64url round trip and shape check', () => {
  const raw = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
  const s = base64url(raw);
  assert.equal(s.length, 43);
  assert.ok(isKey(s));
  assert.deepEqual(fromBase64url(s), raw);
  assert.ok(!isKey(s.slice(0, 42) + 'B'), 'stray trailing bits');
  assert.ok(!isKey(s + 'A'));
  assert.ok(!isKey(s.replace(/.$/, '=')));
});

test('backoff is exponential, capped and jittered', () => {
  for (let n = 0; n < 30; n++) {
    const d = backoffDelay(n);
    const full = Math.min(15000, 500 * 2 ** n);
    assert.ok(d >= full / 2 - 1 && d <= full + 1, `attempt ${n}: ${d}`);
  }
});

test('final closings are the four the design names', () => {
  assert.deepEqual([...FINAL_CLOSINGS].sort(), ['auth_timeout', 'bad_challenge', 'key_conflict', 'register_timeout']);
});
