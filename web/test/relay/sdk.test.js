// keypost.js against a real relay, in Node (EventSource from the
// `eventsource` package; no Web Locks here, so every client leads itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { createHmac } from 'node:crypto';
import { Keypost, generateKeyPair } from '../../keypost.js';
import { relaySuite, startRelay, waitFor, cleanup } from '../helpers/relay.js';

const suite = relaySuite();
/** @type {Keypost[]} */
const clients = [];
suite.defer(() => clients.forEach((c) => c.close()));

/** @param {CryptoKeyPair} [keyPair] */
async function open(keyPair) {
  const kp = await Keypost.open({ url: suite.relay.url, keyPair: keyPair ?? (await generateKeyPair()), EventSource, share: false });
  clients.push(kp);
  return kp;
}

/** @param {Keypost} kp */
const ready = (kp) => waitFor(() => kp.state === 'ready', 10_000, 'ready');

test('the window of 3 makes callers wait instead of seeing queue_full', { timeout: 30_000 }, async () => {
  const a = await open();
  const b = await open();
  await Promise.all([ready(a), ready(b)]);
  assert.ok(typeof a.rttMs === 'number' && a.rttMs >= 0, 'rtt from the ready event');

  /** @type {string[]} */
  const got = [];
  b.on('message', (m) => {
    assert.equal(m.from, a.key);
    got.push(m.data);
  });
  /** @type {Map<string, string>} */
  const receipts = new Map();
  a.on('receipt', (r) => receipts.set(r.id, r.status));

  const n = 12;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => a.send(b.key, `m${i}`)));
  for (const r of results) assert.equal(r.status, 'accepted', JSON.stringify(r));
  await waitFor(() => got.length === n && receipts.size === n, 10_000, 'all delivered');
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => `m${i}`), 'in order, once each');
  for (const r of results) assert.equal(receipts.get(r.id), 'delivered');
});

test('per-recipient results: unknown and malformed recipients are rejected', { timeout: 20_000 }, async () => {
  const a = await open();
  await ready(a);
  const stranger = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource, share: false });
  const key = stranger.key;
  stranger.close();
  assert.deepEqual(await a.send(key, 'hi', { id: '0b9d5a52-2c1e-4f0a-8e57-3c6f1a2b4d5e' }), {
    to: key,
    id: '0b9d5a52-2c1e-4f0a-8e57-3c6f1a2b4d5e',
    status: 'rejected',
    code: 'recipient_unknown',
  });
  assert.equal((await a.send('not-a-key', 'hi')).code, 'bad_key');
  assert.equal((await a.send(a.key, 'x'.repeat(64 * 1024 + 1))).code, 'too_large');
});

test('§3.1 key conflict: the newcomer retries and wins, the older session stops for good', { timeout: 30_000 }, async () => {
  const pair = await generateKeyPair();
  const first = await open(pair);
  await ready(first);
  /** @type {string[]} */
  const states = [];
  first.on('state', (s) => states.push(s.state + (s.code ? ':' + s.code : '')));

  const second = await open(pair);
  await ready(second);
  await waitFor(() => first.state === 'closed', 5_000, 'the older session closed');
  assert.equal(first.closeCode, 'key_conflict');
  // It must not come back and kick the newcomer out.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(first.state, 'closed');
  assert.equal(second.state, 'ready');
  assert.deepEqual(states, ['closed:key_conflict']);

  // A send on the closed one answers at once.
  assert.equal((await first.send(second.key, 'x')).code, 'closed');
});

test('at least once: a message redelivered after a reconnect is reported once, and acked', { timeout: 30_000 }, async () => {
  const a = await open();
  // B's first ack fails on the network: B drops its stream and reconnects,
  // and the relay delivers the unacknowledged message again (attempt 2).
  let failAcks = 1;
  /** @type {typeof fetch} */
  const flaky = async (input, init) => {
    if (String(input).endsWith('/v1/ack') && failAcks > 0) {
      failAcks--;
      throw new TypeError('network down (test)');
    }
    return fetch(input, init);
  };
  /** @type {{id: string, attempt: number}[]} */
  const onTheWire = [];
  class RecordingEventSource extends EventSource {
    /** @param {string | URL} url */
    constructor(url) {
      super(url);
      this.addEventListener('message', (ev) => onTheWire.push(JSON.parse(ev.data)));
    }
  }
  const b = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource: RecordingEventSource, share: false, fetch: flaky });
  clients.push(b);
  await Promise.all([ready(a), ready(b)]);
  /** @type {import('../../keypost.js').IncomingMessage[]} */
  const got = [];
  b.on('message', (m) => got.push(m));
  /** @type {string[]} */
  const bStates = [];
  b.on('state', (s) => bStates.push(s.state));
  /** @type {string[]} */
  const receipts = [];
  a.on('receipt', (r) => receipts.push(r.status));

  const r = await a.send(b.key, 'exactly once, please');
  assert.equal(r.status, 'accepted');
  await waitFor(() => receipts.length === 1, 15_000, 'the delivered receipt');
  assert.deepEqual(receipts, ['delivered']);
  assert.equal(failAcks, 0, 'the first ack failed');
  assert.deepEqual(bStates, ['reconnecting', 'ready'], 'B reconnected');
  assert.deepEqual(onTheWire.map((m) => [m.id, m.attempt]), [[r.id, 1], [r.id, 2]], 'delivered twice on the wire');
  assert.equal(got.length, 1, 'reported once');
  assert.equal(got[0].data, 'exactly once, please');
});

test('429 rate_limited: the SDK waits as told and every message still goes', { timeout: 60_000 }, async () => {
  // A relay that allows each key 4 signed requests a second.
  const slow = await startRelay(suite.build, { args: ['--key-rate', '4', '--key-burst', '4'] });
  /** @type {Keypost[]} */
  const mine = [];
  try {
    let limited = 0;
    /** @type {typeof fetch} */
    const counting = async (input, init) => {
      const res = await fetch(input, init);
      if (res.status === 429) limited++;
      return res;
    };
    const opt = async () => ({ url: slow.url, keyPair: await generateKeyPair(), EventSource, share: false, fetch: counting });
    const a = await Keypost.open(await opt());
    const b = await Keypost.open(await opt());
    mine.push(a, b);
    await Promise.all([ready(a), ready(b)]);
    /** @type {string[]} */
    const got = [];
    b.on('message', (m) => got.push(m.data));
    const n = 15;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => a.send(b.key, `r${i}`)));
    assert.deepEqual(results.map((r) => r.status), Array(n).fill('accepted'));
    await waitFor(() => got.length === n, 30_000, 'all delivered');
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => `r${i}`));
    assert.ok(limited > 0, 'the relay did answer 429');
  } finally {
    await cleanup(
      () => mine.forEach((c) => c.close()),
      () => slow.stop(),
    );
  }
});

// ---- the session profile (docs/protocol.md §4.6)

/**
 * @typedef {object} Signed One POST as it went out.
 * @property {string} path
 * @property {string} session Relay-Session
 * @property {string | undefined} alg the alg parameter of Signature-Input
 * @property {Record<string, string>} headers
 * @property {string} body
 */

/**
 * A fetch that records every POST and the secret each session's auth
 * answer handed out. failAcks: how many /v1/ack to fail on the network;
 * stripSecret: take hmac_key out of auth answers (a relay run with --no-hmac).
 * @param {{failAcks?: number, stripSecret?: boolean}} [opts]
 */
function recordingFetch({ failAcks = 0, stripSecret = false } = {}) {
  /** @type {Signed[]} */
  const log = [];
  /** @type {Map<string, string>} session → hmac_key */
  const secrets = new Map();
  /** @type {typeof fetch} */
  const f = async (input, init) => {
    const path = new URL(String(input)).pathname;
    const headers = /** @type {Record<string, string>} */ (init?.headers ?? {});
    const entry = {
      path,
      session: headers['Relay-Session'],
      alg: /;alg="([^"]*)"/.exec(headers['Signature-Input'] ?? '')?.[1],
      headers,
      body: new TextDecoder().decode(/** @type {Uint8Array} */ (init?.body)),
    };
    log.push(entry);
    if (path === '/v1/ack' && failAcks > 0) {
      failAcks--;
      throw new TypeError('network down (test)');
    }
    const res = await fetch(input, init);
    if (path !== '/v1/auth' || res.status !== 200) return res;
    const body = await res.json();
    if (typeof body.hmac_key === 'string') secrets.set(entry.session, body.hmac_key);
    if (stripSecret) delete body.hmac_key;
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  return { fetch: f, log, secrets };
}

/**
 * Whether s is a valid hmac-sha256 signature of its request with the
 * secret hmacKey, checked with node:crypto (not WebCrypto, which signed it).
 * @param {Signed} s
 * @param {string} hmacKey
 */
function macVerifies(s, hmacKey) {
  const h = s.headers;
  const base = [
    `"@method": POST`,
    `"@path": ${s.path}`,
    `"content-digest": ${h['Content-Digest']}`,
    `"relay-session": ${h['Relay-Session']}`,
    `"@signature-params": ${h['Signature-Input'].replace(/^sig=/, '')}`,
  ].join('\n');
  const mac = createHmac('sha256', Buffer.from(hmacKey, 'base64url')).update(base).digest('base64');
  return h.Signature === `sig=:${mac}:`;
}

/**
 * Asserts how a client with sessionHMAC signed: every /v1/auth with
 * Ed25519, asking for a secret; every other request with hmac-sha256 keyed
 * with its own session's secret.
 * @param {Signed[]} log
 * @param {Map<string, string>} secrets
 */
function assertProfile(log, secrets) {
  for (const s of log) {
    if (s.path === '/v1/auth') {
      assert.equal(s.alg, 'ed25519', 'auth is always Ed25519');
      assert.deepEqual(JSON.parse(s.body).hmac, true, 'auth asks for a secret');
      continue;
    }
    assert.equal(s.alg, 'hmac-sha256', `${s.path} after auth`);
    const secret = secrets.get(s.session);
    assert.ok(secret, `a secret for session ${s.session}`);
    assert.ok(macVerifies(s, secret), `${s.path}: the MAC of its session's secret`);
    assert.equal(Buffer.from(s.headers.Signature.slice(5, -1), 'base64').length, 32);
  }
}

test('sessionHMAC: auth goes out Ed25519, later requests hmac-sha256; messages flow with a client without it', { timeout: 30_000 }, async () => {
  const recA = recordingFetch();
  const recB = recordingFetch();
  const a = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource, share: false, fetch: recA.fetch, sessionHMAC: true });
  const b = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource, share: false, fetch: recB.fetch });
  clients.push(a, b);
  await Promise.all([ready(a), ready(b)]);

  /** @type {string[]} */
  const gotA = [];
  /** @type {string[]} */
  const gotB = [];
  a.on('message', (m) => gotA.push(`${m.from === b.key ? 'b' : '?'}:${m.data}`));
  b.on('message', (m) => gotB.push(`${m.from === a.key ? 'a' : '?'}:${m.data}`));
  /** @type {string[]} */
  const receiptsA = [];
  /** @type {string[]} */
  const receiptsB = [];
  a.on('receipt', (r) => receiptsA.push(r.status));
  b.on('receipt', (r) => receiptsB.push(r.status));

  const results = await Promise.all([a.send(b.key, 'over hmac 1'), a.send(b.key, 'over hmac 2'), b.send(a.key, 'over ed25519')]);
  assert.deepEqual(results.map((r) => r.status), ['accepted', 'accepted', 'accepted']);
  await waitFor(() => gotA.length === 1 && gotB.length === 2 && receiptsA.length === 2 && receiptsB.length === 1, 10_000, 'delivered both ways');
  assert.deepEqual(gotB, ['a:over hmac 1', 'a:over hmac 2']);
  assert.deepEqual(gotA, ['b:over ed25519']);
  assert.deepEqual([...receiptsA, ...receiptsB], ['delivered', 'delivered', 'delivered']);
  // A's acks of its receipts, too.
  await waitFor(() => recA.log.filter((s) => s.path === '/v1/ack').length >= 2, 10_000, "A's acks");

  assert.equal(recA.secrets.size, 1, 'one session, one secret');
  const paths = new Set(recA.log.map((s) => s.path));
  for (const p of ['/v1/auth', '/v1/challenge', '/v1/send', '/v1/ack']) assert.ok(paths.has(p), `A sent ${p}`);
  assertProfile(recA.log, recA.secrets);

  // B did not opt in: no secret asked for, none handed out, Ed25519 throughout.
  assert.equal(recB.secrets.size, 0);
  assert.deepEqual(JSON.parse(recB.log[0].body), { key: b.key });
  assert.deepEqual([...new Set(recB.log.map((s) => s.alg))], ['ed25519']);
});

test('sessionHMAC: a reconnect gets a new secret, and the old one is not used again', { timeout: 30_000 }, async () => {
  // A's first ack fails on the network: A drops its stream, reconnects on
  // a new session and authenticates again.
  const recA = recordingFetch({ failAcks: 1 });
  const a = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource, share: false, fetch: recA.fetch, sessionHMAC: true });
  const b = await open();
  clients.push(a);
  await Promise.all([ready(a), ready(b)]);
  /** @type {string[]} */
  const states = [];
  a.on('state', (s) => states.push(s.state));
  /** @type {string[]} */
  const got = [];
  a.on('message', (m) => got.push(m.data));

  assert.equal((await a.send(b.key, 'before')).status, 'accepted');
  await waitFor(() => states.join() === 'reconnecting,ready', 15_000, 'A reconnected');
  assert.equal((await b.send(a.key, 'after')).status, 'accepted');
  await waitFor(() => got.includes('after'), 10_000, 'delivered on the new session');
  await waitFor(() => recA.log.filter((s) => s.path === '/v1/ack').length >= 3, 10_000, "A's acks on the new session");

  const sessions = [...recA.secrets.keys()];
  assert.equal(sessions.length, 2, 'two sessions, two secrets');
  const [oldSecret, newSecret] = [...recA.secrets.values()];
  assert.notEqual(oldSecret, newSecret);
  assertProfile(recA.log, recA.secrets);
  const later = recA.log.filter((s) => s.session === sessions[1] && s.path !== '/v1/auth');
  assert.ok(later.length > 0);
  for (const s of later) assert.ok(!macVerifies(s, oldSecret), `${s.path} on the new session is not keyed with the old secret`);
});

test('sessionHMAC with a relay that hands out no secret (--no-hmac): Ed25519 throughout', { timeout: 30_000 }, async () => {
  const recA = recordingFetch({ stripSecret: true });
  const a = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource, share: false, fetch: recA.fetch, sessionHMAC: true });
  const b = await open();
  clients.push(a);
  await Promise.all([ready(a), ready(b)]);
  /** @type {string[]} */
  const got = [];
  b.on('message', (m) => got.push(m.data));
  /** @type {string[]} */
  const receipts = [];
  a.on('receipt', (r) => receipts.push(r.status));
  assert.equal((await a.send(b.key, 'no secret')).status, 'accepted');
  await waitFor(() => got.length === 1 && receipts.length === 1, 10_000, 'delivered');
  await waitFor(() => recA.log.some((s) => s.path === '/v1/ack'), 10_000, "A's ack");
  assert.deepEqual(JSON.parse(recA.log[0].body), { key: a.key, hmac: true }, 'asked for one');
  assert.deepEqual([...new Set(recA.log.map((s) => s.alg))], ['ed25519']);
});

test('a send whose request is out when the client closes is answered closed, not left hanging', { timeout: 30_000 }, async () => {
  /** @type {() => void} */
  let release = () => {};
  const gate = new Promise((resolve) => {
    release = () => resolve(undefined);
  });
  let held = false;
  /** @type {typeof fetch} */
  const slowSend = async (input, init) => {
    if (String(input).endsWith('/v1/send')) {
      held = true;
      await gate; // until the client is closed
      throw new TypeError('network error');
    }
    return fetch(input, init);
  };
  const a = await Keypost.open({ url: suite.relay.url, keyPair: await generateKeyPair(), EventSource, share: false, fetch: slowSend });
  clients.push(a);
  const b = await open();
  await Promise.all([ready(a), ready(b)]);
  const result = a.send(b.key, 'cut off');
  await waitFor(() => held, 5_000, 'the send request');
  a.close();
  release();
  const r = await Promise.race([result, new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000))]);
  assert.deepEqual(r, { to: b.key, id: /** @type {any} */ (r).id, status: 'rejected', code: 'closed' });
});
