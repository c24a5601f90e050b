// An independent keypost client, written from docs/protocol.md alone with
// nothing but Node's standard library (fetch, node:crypto). It registers two
// users, exchanges messages both ways with acks and receipts, and checks a
// few refusals; it exits non-zero with a message on the first deviation.
// Usage: node client.mjs http://127.0.0.1:PORT
import crypto from 'node:crypto';

const base = process.argv[2];
if (!base) throw new Error('usage: node client.mjs URL');

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

// §4: RFC 9421 signature over @method, @path, content-digest, relay-session.
async function post(user, session, nonce, path, obj) {
  const body = JSON.stringify(obj);
  const digest = 'sha-256=:' + crypto.createHash('sha256').update(body).digest('base64') + ':';
  const params = `("@method" "@path" "content-digest" "relay-session");keyid="${user.key}";alg="ed25519";tag="keypost/1";nonce="${nonce}";created=${Math.floor(Date.now() / 1000)}`;
  const sigBase = [
    `"@method": POST`,
    `"@path": ${path}`,
    `"content-digest": ${digest}`,
    `"relay-session": ${session}`,
    `"@signature-params": ${params}`,
  ].join('\n');
  const sig = crypto.sign(null, Buffer.from(sigBase), user.privateKey).toString('base64');
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

// §5: connect, auth, three challenges one after another, ready.
async function register(user) {
  const s = await openStream();
  const first = await s.next();
  check(first.type === 'session' && first.data.protocol === '1.0', 'first event is session');
  check(first.data.limits.max_pending_per_pair === 3, 'limits announced');
  const session = first.data.session;
  let nonce = 0;
  const send = (path, obj) => post(user, session, ++nonce, path, obj);
  const auth = await send('/v1/auth', { key: user.key });
  check(auth.status === 200, 'auth ' + JSON.stringify(auth.body));
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
  return { user, session, send, next, close: s.close };
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

alice.close();
bob.close();
console.log('conformance: ok');
