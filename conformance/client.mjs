// An independent keypost client, written from docs/protocol.md alone with
// nothing but Node's standard library (fetch, node:crypto). It registers two
// users, exchanges messages both ways with acks and receipts, and checks a
// few refusals; then it runs the session profile of §4.6 (hmac-sha256) the
// same way. It exits non-zero with a message on the first deviation.
// Usage: node client.mjs http://127.0.0.1:PORT [--no-hmac]
// With --no-hmac, the relay is expected to refuse the session profile (it
// runs with --no-hmac), and only that is checked.
import crypto from 'node:crypto';

const base = process.argv[2];
if (!base) throw new Error('usage: node client.mjs URL [--no-hmac]');
const relayRefusesHMAC = process.argv.includes('--no-hmac');

function check(cond, what) {
  if (!cond) throw new Error('conformance: ' + what);
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// §2: the address is base64url of the raw 32-byte public key.
function newUser() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { key: b64url(raw), privateKey };
}

// §3.1: a minimal SSE reader over fetch.
async function openStream() {
  const ctrl = new AbortController();
  const res = await fetch(base + '/v1/events', { signal: ctrl.signal });
  check(res.status === 200, 'GET /v1/events status ' + res.status);
  check(res.headers.get('content-type') === 'text/event-stream', 'stream content type');
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const queue = [];
  let wake = null;
  let ended = false;
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let type = 'message', data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) queue.push({ type, data: JSON.parse(data) });
          if (wake) { wake(); wake = null; }
        }
      }
    } catch { /* aborted */ }
    ended = true;
    if (wake) { wake(); wake = null; }
  })();
  async function next(timeoutMs = 10000) {
    const until = Date.now() + timeoutMs;
    while (queue.length === 0) {
      check(!ended, 'stream ended early');
      check(Date.now() < until, 'no event in time');
      await new Promise((r) => { wake = r; setTimeout(r, 200); });
    }
    return queue.shift();
  }
  return { next, close: () => ctrl.abort() };
}

// §4: RFC 9421 signature over @method, @path, content-digest, relay-session:
// Ed25519 with the user's key, or, given a session secret (§4.6: its 32
// bytes), hmac-sha256 keyed with it.
async function post(user, session, nonce, path, obj, secret = null) {
  const body = JSON.stringify(obj);
  const digest = 'sha-256=:' + crypto.createHash('sha256').update(body).digest('base64') + ':';
  const alg = secret ? 'hmac-sha256' : 'ed25519';
  const params = `("@method" "@path" "content-digest" "relay-session");keyid="${user.key}";alg="${alg}";tag="keypost/1";nonce="${nonce}";created=${Math.floor(Date.now() / 1000)}`;
  const sigBase = [
    `"@method": POST`,
    `"@path": ${path}`,
    `"content-digest": ${digest}`,
    `"relay-session": ${session}`,
    `"@signature-params": ${params}`,
  ].join('\n');
  const sig = secret
    ? crypto.createHmac('sha256', secret).update(sigBase).digest('base64')
    : crypto.sign(null, Buffer.from(sigBase), user.privateKey).toString('base64');
  const res = await fetch(base + path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Relay-Session': session,
      'Content-Digest': digest,
      'Signature-Input': 'sig=' + params,
      'Signature': `sig=:${sig}:`,
    },
    body,
  });
  return { status: res.status, body: await res.json(), type: res.headers.get('content-type') };
}

// §5: connect, auth, three challenges one after another, ready. With
// hmac, auth asks for a session secret (§4.6), and every later request of
// the session that the relay gave one for is signed with it.
async function register(user, { hmac = false } = {}) {
  const s = await openStream();
  const first = await s.next();
  check(first.type === 'session' && first.data.protocol === '1.0', 'first event is session');
  check(first.data.limits.max_pending_per_pair === 3, 'limits announced');
  const session = first.data.session;
  let nonce = 0;
  let secret = null;
  // signWith: null for Ed25519, a secret for hmac-sha256; default: the session's choice.
  const send = (path, obj, signWith = path === '/v1/auth' ? null : secret) => post(user, session, ++nonce, path, obj, signWith);
  const auth = await send('/v1/auth', hmac ? { key: user.key, hmac: true } : { key: user.key });
  check(auth.status === 200 && auth.body.ok === true, 'auth ' + JSON.stringify(auth.body));
  if (typeof auth.body.hmac_key === 'string') {
    // §4.6: 32 bytes, base64url without padding.
    check(/^[A-Za-z0-9_-]{43}$/.test(auth.body.hmac_key), 'hmac_key is 43 characters of base64url ' + auth.body.hmac_key);
    secret = Buffer.from(auth.body.hmac_key, 'base64url');
    check(secret.length === 32 && b64url(secret) === auth.body.hmac_key, 'hmac_key is 32 bytes');
  }
  check(hmac || !('hmac_key' in auth.body), 'no secret unless asked for');
  for (let n = 1; ; ) {
    const ev = await s.next();
    if (ev.type === 'session') continue;
    if (ev.type === 'ready') {
      check(n === 4 && ev.data.key === user.key, 'ready after three challenges');
      break;
    }
    check(ev.type === 'challenge' && ev.data.n === n, `challenge ${n}, got ${ev.type}`);
    const r = await send('/v1/challenge', { id: ev.data.id });
    check(r.status === 200, 'challenge answer');
    n++;
  }
  // Events other than pings, answering pings on the way (§7.1).
  async function next() {
    for (;;) {
      const ev = await s.next();
      if (ev.type === 'ping') {
        await send('/v1/pong', { id: ev.data.id });
        continue;
      }
      return ev;
    }
  }
  // The first event that matches pred, passing over others (e.g. receipts
  // of earlier parts of the scenario, not read there).
  async function until(pred) {
    for (;;) {
      const ev = await next();
      if (pred(ev)) return ev;
    }
  }
  return { user, session, secret, send, next, until, close: s.close };
}

if (relayRefusesHMAC) {
  // §4.6 item 2: a relay run with --no-hmac answers {"ok":true}; the
  // client keeps signing with Ed25519, and an hmac-sha256 signature is
  // refused like any other bad one.
  const erin = await register(newUser(), { hmac: true });
  check(erin.secret === null, 'no secret from a relay run with --no-hmac');
  const r = await erin.send('/v1/send', { messages: [{ to: newUser().key, data: 'x' }] }, crypto.randomBytes(32));
  check(r.status === 401 && r.body.code === 'bad_signature', 'hmac-sha256 without a secret ' + JSON.stringify(r.body));
  const ok = await erin.send('/v1/send', { messages: [{ to: newUser().key, data: 'x' }] });
  check(ok.status === 200 && ok.body.results[0].code === 'recipient_unknown', 'Ed25519 still goes ' + JSON.stringify(ok.body));
  erin.close();
  console.log('conformance: ok');
  process.exit(0);
}

const alice = await register(newUser());
const bob = await register(newUser());

// §6.1: send with a client id; result per entry, in order.
const id = crypto.randomUUID();
const stranger = newUser();
let r = await alice.send('/v1/send', { messages: [
  { to: bob.user.key, data: 'hello, bob', id },
  { to: stranger.key, data: 'nobody home' },
] });
check(r.status === 200, 'send status');
check(r.body.results[0].status === 'accepted' && r.body.results[0].id === id && r.body.results[0].eta_ms >= 1, 'accepted result');
check(r.body.results[1].status === 'rejected' && r.body.results[1].code === 'recipient_unknown' && r.body.results[1].id, 'unknown recipient result');

// §6.2: a retry with the same id makes no copy.
r = await alice.send('/v1/send', { messages: [{ to: bob.user.key, data: 'hello, bob', id }] });
check(r.body.results[0].status === 'accepted' && r.body.results[0].id === id, 'retry is idempotent');

// §6.3: delivery; §6.4: ack; §6.5: receipt, and its ack.
let ev = await bob.next();
check(ev.type === 'message' && ev.data.id === id && ev.data.from === alice.user.key && ev.data.data === 'hello, bob' && ev.data.attempt === 1, 'message event ' + JSON.stringify(ev));
r = await bob.send('/v1/ack', { messages: [{ from: ev.data.from, id: ev.data.id }] });
check(r.status === 200, 'ack');
ev = await alice.next();
check(ev.type === 'receipt' && ev.data.id === id && ev.data.to === bob.user.key && ev.data.status === 'delivered', 'receipt ' + JSON.stringify(ev));
r = await alice.send('/v1/ack', { receipts: [{ to: ev.data.to, id: ev.data.id }] });
check(r.status === 200, 'receipt ack');

// §8: three unacknowledged per pair, the fourth is queue_full.
const msgs = [1, 2, 3, 4].map((n) => ({ to: alice.user.key, data: 'm' + n, id: crypto.randomUUID() }));
r = await bob.send('/v1/send', { messages: msgs });
const codes = r.body.results.map((x) => x.code || x.status).join(',');
check(codes === 'accepted,accepted,accepted,queue_full', '§8 results ' + codes);
for (const want of ['m1', 'm2', 'm3']) {
  ev = await alice.next();
  check(ev.type === 'message' && ev.data.data === want, 'in order: ' + want);
  await alice.send('/v1/ack', { messages: [{ from: ev.data.from, id: ev.data.id }] });
}

// §4.2: a replayed nonce is refused with a problem.
const replay = await post(alice.user, alice.session, 1, '/v1/pong', { id: crypto.randomUUID() });
check(replay.status === 401 && replay.body.code === 'replayed' && replay.type === 'application/problem+json', 'replayed nonce ' + JSON.stringify(replay.body));

// §9.4: too large data is refused for that entry.
r = await alice.send('/v1/send', { messages: [{ to: bob.user.key, data: 'x'.repeat(65537) }] });
check(r.body.results[0].code === 'too_large', 'too_large');

// §4.6: the session profile. Carol asks for a secret; her challenge
// answers (which got her to ready) and everything after are hmac-sha256.
const carol = await register(newUser(), { hmac: true });
check(carol.secret !== null, 'a secret for a session that asked for one');

// A message each way with bob, who signs with Ed25519, acks and receipts included.
const cid = crypto.randomUUID();
r = await carol.send('/v1/send', { messages: [{ to: bob.user.key, data: 'hello over hmac', id: cid }] });
check(r.status === 200 && r.body.results[0].status === 'accepted', 'hmac send ' + JSON.stringify(r.body));
ev = await bob.until((e) => e.type === 'message');
check(ev.type === 'message' && ev.data.id === cid && ev.data.from === carol.user.key && ev.data.data === 'hello over hmac', 'message from an hmac session ' + JSON.stringify(ev));
r = await bob.send('/v1/ack', { messages: [{ from: ev.data.from, id: ev.data.id }] });
check(r.status === 200, 'ack of an hmac session\'s message');
ev = await carol.next();
check(ev.type === 'receipt' && ev.data.id === cid && ev.data.status === 'delivered', 'receipt on an hmac session ' + JSON.stringify(ev));
r = await carol.send('/v1/ack', { receipts: [{ to: ev.data.to, id: ev.data.id }] });
check(r.status === 200, 'hmac receipt ack ' + JSON.stringify(r.body));
const bid = crypto.randomUUID();
r = await bob.send('/v1/send', { messages: [{ to: carol.user.key, data: 'hello back', id: bid }] });
check(r.body.results[0].status === 'accepted', 'send to an hmac session');
ev = await carol.next();
check(ev.type === 'message' && ev.data.id === bid && ev.data.from === bob.user.key, 'message on an hmac session ' + JSON.stringify(ev));
r = await carol.send('/v1/ack', { messages: [{ from: ev.data.from, id: ev.data.id }] });
check(r.status === 200, 'hmac message ack ' + JSON.stringify(r.body));
ev = await bob.until((e) => e.type === 'receipt' && e.data.id === bid);
check(ev.type === 'receipt' && ev.data.id === bid && ev.data.status === 'delivered', 'receipt from an hmac session ' + JSON.stringify(ev));
await bob.send('/v1/ack', { receipts: [{ to: ev.data.to, id: ev.data.id }] });

// §4.6 item 4: /v1/auth itself is always Ed25519.
r = await carol.send('/v1/auth', { key: carol.user.key, hmac: true }, carol.secret);
check(r.status === 401 && r.body.code === 'bad_signature' && r.type === 'application/problem+json', 'hmac-signed auth ' + JSON.stringify(r.body));
// §4.6 item 2: a retried auth gets the same secret.
r = await carol.send('/v1/auth', { key: carol.user.key, hmac: true });
check(r.status === 200 && r.body.hmac_key === b64url(carol.secret), 'retried auth, same secret ' + JSON.stringify(r.body));
// §4.6 item 3: Ed25519 stays valid on the session.
r = await carol.send('/v1/send', { messages: [{ to: stranger.key, data: 'x' }] }, null);
check(r.status === 200 && r.body.results[0].code === 'recipient_unknown', 'Ed25519 on an hmac session ' + JSON.stringify(r.body));
// §4.6 item 4: another secret, another session's secret, or a session with none.
const dave = await register(newUser(), { hmac: true });
const wrong = Buffer.from(carol.secret);
wrong[0] ^= 1;
for (const [what, sess, secret] of [
  ['a wrong secret', carol, wrong],
  ["another session's secret", dave, carol.secret],
  ['a session without a secret', alice, carol.secret],
]) {
  r = await sess.send('/v1/send', { messages: [{ to: stranger.key, data: 'x' }] }, secret);
  check(r.status === 401 && r.body.code === 'bad_signature', `hmac-sha256 with ${what}: ` + JSON.stringify(r.body));
}
// §4.2: the nonce window applies to hmac-sha256 as to Ed25519.
const again = await post(carol.user, carol.session, 1, '/v1/pong', { id: crypto.randomUUID() }, carol.secret);
check(again.status === 401 && again.body.code === 'replayed', 'replayed hmac nonce ' + JSON.stringify(again.body));

alice.close();
bob.close();
carol.close();
dave.close();
console.log('conformance: ok');
