// keypost.js against a real relay, in Node (EventSource from the
// `eventsource` package; no Web Locks here, so every client leads itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
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
