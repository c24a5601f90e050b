// @ts-check
/**
 * keypost.js: the browser SDK of the keypost relay (protocol 1.0).
 *
 * An Ed25519 public key is an address. This module keeps the key pair in
 * IndexedDB (the private key is non-extractable), receives over
 * Server-Sent Events (GET /v1/events) and sends with RFC 9421-signed POSTs
 * (Ed25519 over @method, @path, content-digest and relay-session, with an
 * RFC 9530 Content-Digest). With the opt-in `sessionHMAC` option, /v1/auth
 * (still Ed25519) asks the relay for a per-session secret, and the session's
 * other requests are signed with RFC 9421 hmac-sha256 keyed with it
 * (docs/protocol.md §4.6): cheaper for both ends. The secret is a
 * non-extractable WebCrypto key held in memory by the leader tab only, for
 * one session: it is never stored, never posted to other tabs, and dropped
 * when the stream ends.
 *
 * A key may have one live session, so the tabs of an origin that use the
 * same key elect a leader with Web Locks: the leader holds the stream and
 * signs every POST (the nonce counter belongs to the session); the other
 * tabs forward their sends to it and get messages, receipts and state back
 * over a BroadcastChannel. When the leader's tab closes, its lock is
 * released and the next tab in line takes over.
 *
 * No runtime dependencies, no build step: import it as an ES module.
 *
 *     import { Keypost } from './keypost.js';
 *     const kp = await Keypost.open();
 *     kp.on('message', (m) => console.log(m.from, m.data));
 *     const r = await kp.send(peerKey, 'hello');
 *
 * @module keypost
 */

/** Protocol version this module speaks. */
export const PROTOCOL_VERSION = '1.0';
/** The tag parameter every signature carries. */
export const SIGNATURE_TAG = 'keypost/1';
/** The signature label this module sends. */
export const SIGNATURE_LABEL = 'sig';
/** The covered components of every keypost signature, serialized. */
export const COVERED_COMPONENTS = '("@method" "@path" "content-digest" "relay-session")';
/** The signature algorithm of the user's key. */
export const SIGNATURE_ALG = 'ed25519';
/** The algorithm of the opt-in session profile (RFC 9421 §3.3.3, docs/protocol.md §4.6). */
export const SIGNATURE_ALG_HMAC = 'hmac-sha256';
/** The size of a session secret in bytes. */
export const SESSION_SECRET_BYTES = 32;

/** Closing codes after which a client must not reconnect on its own. */
export const FINAL_CLOSINGS = Object.freeze(['key_conflict', 'bad_challenge', 'auth_timeout', 'register_timeout']);

const PATH_EVENTS = '/v1/events';
const PATH_AUTH = '/v1/auth';
const PATH_CHALLENGE = '/v1/challenge';
const PATH_SEND = '/v1/send';
const PATH_ACK = '/v1/ack';
const PATH_PONG = '/v1/pong';

/** Limits assumed until the session event announces the relay's own. */
const DEFAULT_LIMITS = Object.freeze({
  max_message_bytes: 64 << 10,
  max_body_bytes: 4 << 20,
  max_pending_per_pair: 3,
  max_recipients: 1000,
  retention_ms: 60000,
  auth_timeout_ms: 20000,
  register_timeout_ms: 20000,
  ping_interval_ms: 25000,
});

const ACK_DELAY_MS = 50; // acks go out within this (the protocol allows 200 ms)
const KEY_IN_USE_RETRY_MS = 1000; // §3.1: repeat /v1/auth after at least a second
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const QUEUE_FULL_RETRY_MS = 1000;
const RECONCILE_DELAY_MS = 300;
const WATCHDOG_EVERY_MS = 5000;
const SEEN_MAX = 20000; // (from, id) pairs remembered for de-duplication

// ---------------------------------------------------------------------------
// Types

/**
 * @typedef {object} Limits
 * @property {number} max_message_bytes
 * @property {number} max_body_bytes
 * @property {number} max_pending_per_pair
 * @property {number} max_recipients
 * @property {number} retention_ms
 * @property {number} auth_timeout_ms
 * @property {number} register_timeout_ms
 * @property {number} ping_interval_ms
 */

/**
 * A message received from another key.
 * @typedef {object} IncomingMessage
 * @property {string} id
 * @property {string} from
 * @property {string} data
 * @property {number} sent_at Unix milliseconds when the relay accepted it.
 * @property {number} attempt 1 on first delivery.
 */

/**
 * The final status of a message this key sent: delivered, expired or
 * undeliverable. `local` is set when the relay lost the message (it was
 * restarted) and this module settled it itself; `code` then says why.
 * @typedef {object} Receipt
 * @property {string} id
 * @property {string} to
 * @property {string} status
 * @property {boolean} [local]
 * @property {string} [code]
 */

/**
 * The result of one send: accepted (with the relay's delivery estimate) or
 * rejected with a code (recipient_offline, recipient_unknown, too_large, …).
 * @typedef {object} SendResult
 * @property {string} to
 * @property {string} id
 * @property {'accepted' | 'rejected'} status
 * @property {number} [eta_ms]
 * @property {string} [code]
 */

/**
 * @typedef {'connecting' | 'ready' | 'reconnecting' | 'closed'} ConnState
 */

/**
 * The connection state, as the leader tab sees it.
 * @typedef {object} StateInfo
 * @property {ConnState} state
 * @property {number | null} rtt_ms Measured by the relay during registration (ready event).
 * @property {string | null} code Why the connection closed for good (a final closing code, or 'closed').
 * @property {boolean} leader Whether this tab holds the stream.
 */

/**
 * A message sent by this key, from any tab.
 * @typedef {object} SentInfo
 * @property {string} to
 * @property {string} id
 * @property {string} data
 * @property {SendResult} result
 */

/**
 * @typedef {object} KeypostEventMap
 * @property {IncomingMessage} message
 * @property {Receipt} receipt
 * @property {StateInfo} state
 * @property {SentInfo} sent
 */

/**
 * @typedef {object} KeypostOptions
 * @property {string} [url] The relay's base URL; default: this page's origin.
 * @property {string} [name] Which stored key to use (IndexedDB); default 'default'.
 * @property {CryptoKeyPair} [keyPair] Use this Ed25519 key pair instead of a stored one.
 * @property {boolean} [share] Share one stream between tabs (Web Locks + BroadcastChannel); default true where available.
 * @property {boolean} [sessionHMAC] Opt into the session profile (docs/protocol.md §4.6): /v1/auth asks for a
 *   per-session secret, and the session's other requests are signed with hmac-sha256 keyed with it instead of
 *   Ed25519. The secret stays in the leader tab's memory, as a non-extractable key, for that session only.
 *   Anyone who learns it can act as this key for the session's life, so use it over TLS (or loopback) only.
 *   A relay that refuses the profile (--no-hmac) hands out no secret, and requests stay Ed25519. Default false.
 * @property {EventSourceCtor} [EventSource] EventSource constructor (e.g. a polyfill in Node).
 * @property {FetchFn} [fetch] fetch function.
 */

/**
 * @typedef {new (url: string) => EventSource} EventSourceCtor
 */

/**
 * @typedef {typeof globalThis.fetch} FetchFn
 */

// ---------------------------------------------------------------------------
// Encoding

const encoder = new TextEncoder();

/**
 * Standard base64 with padding (RFC 4648 §4).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * base64url without padding (RFC 4648 §5), the form of keys on the wire.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function base64url(bytes) {
  return base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decodes base64url without padding; throws on anything else.
 * @param {string} s
 * @returns {Uint8Array}
 */
export function fromBase64url(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new Error('not base64url');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** 32 bytes as base64url without padding, strictly: the last character has no stray bits. */
const BASE64URL_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * Whether s looks like a keypost key: 43 characters of base64url that
 * decode to 32 bytes with no stray trailing bits. (The relay also checks
 * that it is a valid curve point.)
 * @param {string} s
 * @returns {boolean}
 */
export function isKey(s) {
  return typeof s === 'string' && BASE64URL_32.test(s);
}

/**
 * @param {string} s
 * @returns {Uint8Array}
 */
function utf8(s) {
  return encoder.encode(s);
}

/**
 * @param {ArrayBuffer | Uint8Array} b
 * @returns {Uint8Array}
 */
function bytesOf(b) {
  return b instanceof Uint8Array ? b : new Uint8Array(b);
}

// ---------------------------------------------------------------------------
// Signing (RFC 9421 + RFC 9530), exactly as protocol/signature.go verifies

/**
 * The Content-Digest field value of a body: `sha-256=:<base64 of SHA-256>:`.
 * @param {Uint8Array} body
 * @returns {Promise<string>}
 */
export async function contentDigest(body) {
  const sum = await crypto.subtle.digest('SHA-256', /** @type {BufferSource} */ (body));
  return 'sha-256=:' + base64(bytesOf(sum)) + ':';
}

/**
 * The signature parameters (the Signature-Input member without its label,
 * also the `@signature-params` line of the base), in the canonical order the
 * relay signs with: keyid, alg, tag, nonce, created.
 * @param {string} key The signer's public key (base64url).
 * @param {number} nonce 1…2^53−1, a new one for every request of the session.
 * @param {number} created Unix seconds.
 * @param {typeof SIGNATURE_ALG | typeof SIGNATURE_ALG_HMAC} [alg] default ed25519.
 * @returns {string}
 */
export function signatureParams(key, nonce, created, alg = SIGNATURE_ALG) {
  if (!Number.isSafeInteger(nonce) || nonce < 1) throw new RangeError('nonce out of range');
  if (!Number.isSafeInteger(created)) throw new RangeError('created is not an integer');
  if (alg !== SIGNATURE_ALG && alg !== SIGNATURE_ALG_HMAC) throw new RangeError('unknown signature algorithm');
  return `${COVERED_COMPONENTS};keyid="${key}";alg="${alg}";tag="${SIGNATURE_TAG}";nonce="${nonce}";created=${created}`;
}

/**
 * The RFC 9421 §2.5 signature base of a keypost request: one line per
 * covered component, then the @signature-params line; lines end with LF,
 * the last one has none.
 * @param {{method: string, path: string, contentDigest: string, session: string, params: string}} p
 * @returns {string}
 */
export function signatureBase({ method, path, contentDigest, session, params }) {
  const lines = [
    ['"@method"', method],
    ['"@path"', path],
    ['"content-digest"', contentDigest],
    ['"relay-session"', trimOWS(session)],
    ['"@signature-params"', params],
  ];
  return lines
    .map(([id, value]) => {
      // A control or non-ASCII character could forge a line; the relay refuses them too.
      if (/[^\t\x20-\x7e]/.test(value)) throw new Error(`${id} has a character not allowed in a signature base`);
      return `${id}: ${value}`;
    })
    .join('\n');
}

/**
 * Removes leading and trailing SP and HTAB (HTTP's optional whitespace).
 * @param {string} s
 * @returns {string}
 */
function trimOWS(s) {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * Signs a keypost request and returns the four headers to send with it
 * (and the signature base, for tests and debugging).
 * @param {object} p
 * @param {CryptoKey} p.privateKey Ed25519 private key (may be non-extractable).
 * @param {string} p.key The signer's public key (base64url).
 * @param {string} p.method e.g. 'POST'
 * @param {string} p.path The request path as sent, e.g. '/v1/send'.
 * @param {string} p.session The Relay-Session id.
 * @param {Uint8Array} p.body The exact body bytes.
 * @param {number} p.nonce
 * @param {number} [p.created] Unix seconds; default now.
 * @returns {Promise<{headers: Record<string, string>, base: string}>}
 */
export async function signRequest({ privateKey, ...p }) {
  return signWith(SIGNATURE_ALG, (base) => crypto.subtle.sign({ name: 'Ed25519' }, privateKey, base), p);
}

/**
 * Signs a keypost request with the session profile (docs/protocol.md §4.6):
 * as signRequest, but alg="hmac-sha256" and the Signature is the 32-byte
 * HMAC-SHA256 of the signature base keyed with the session secret. keyid
 * stays the session's key. Only valid on the session whose /v1/auth handed
 * out the secret, and never for /v1/auth itself.
 * @param {object} p
 * @param {CryptoKey} p.secret The session secret, from importSessionSecret.
 * @param {string} p.key The session's public key (base64url).
 * @param {string} p.method e.g. 'POST'
 * @param {string} p.path The request path as sent, e.g. '/v1/send'.
 * @param {string} p.session The Relay-Session id.
 * @param {Uint8Array} p.body The exact body bytes.
 * @param {number} p.nonce
 * @param {number} [p.created] Unix seconds; default now.
 * @returns {Promise<{headers: Record<string, string>, base: string}>}
 */
export async function signRequestHMAC({ secret, ...p }) {
  return signWith(SIGNATURE_ALG_HMAC, (base) => crypto.subtle.sign({ name: 'HMAC' }, secret, base), p);
}

/**
 * The part of signing both algorithms share: digest, parameters, base, headers.
 * @param {typeof SIGNATURE_ALG | typeof SIGNATURE_ALG_HMAC} alg
 * @param {(base: BufferSource) => Promise<ArrayBuffer>} sign
 * @param {{key: string, method: string, path: string, session: string, body: Uint8Array, nonce: number, created?: number}} p
 * @returns {Promise<{headers: Record<string, string>, base: string}>}
 */
async function signWith(alg, sign, { key, method, path, session, body, nonce, created }) {
  const digest = await contentDigest(body);
  const params = signatureParams(key, nonce, created ?? Math.floor(Date.now() / 1000), alg);
  const base = signatureBase({ method, path, contentDigest: digest, session, params });
  const sig = await sign(/** @type {BufferSource} */ (utf8(base)));
  return {
    base,
    headers: {
      'Relay-Session': trimOWS(session),
      'Content-Digest': digest,
      'Signature-Input': `${SIGNATURE_LABEL}=${params}`,
      Signature: `${SIGNATURE_LABEL}=:${base64(bytesOf(sig))}:`,
    },
  };
}

/**
 * Imports the session secret of an auth answer (`hmac_key`: 32 bytes as
 * base64url without padding, the strict encoding) as a non-extractable
 * HMAC SHA-256 key that can only sign. Throws on anything else.
 * @param {string} hmacKey
 * @returns {Promise<CryptoKey>}
 */
export async function importSessionSecret(hmacKey) {
  if (typeof hmacKey !== 'string' || !BASE64URL_32.test(hmacKey)) throw new Error('hmac_key is not 32 bytes of base64url without padding');
  const raw = fromBase64url(hmacKey);
  try {
    if (raw.length !== SESSION_SECRET_BYTES) throw new Error('hmac_key is not 32 bytes');
    return await crypto.subtle.importKey('raw', /** @type {BufferSource} */ (raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  } finally {
    raw.fill(0);
  }
}

// ---------------------------------------------------------------------------
// Keys

/**
 * The public key of a pair, raw, as base64url without padding (43 chars).
 * @param {CryptoKey} publicKey
 * @returns {Promise<string>}
 */
export async function exportPublicKey(publicKey) {
  return base64url(bytesOf(await crypto.subtle.exportKey('raw', publicKey)));
}

/** PKCS#8 prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/**
 * Imports an Ed25519 key pair from its 32-byte seed (RFC 8032), e.g. for
 * test vectors or a key kept elsewhere. The private key is non-extractable
 * unless asked otherwise.
 * @param {Uint8Array} seed
 * @param {boolean} [extractable]
 * @returns {Promise<CryptoKeyPair>}
 */
export async function importSeed(seed, extractable = false) {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_ED25519_PREFIX);
  pkcs8.set(seed, 16);
  const alg = { name: 'Ed25519' };
  // The public key is derived by WebCrypto: import once extractable, read
  // the JWK's x, and keep only a non-extractable copy of the private key.
  const tmp = await crypto.subtle.importKey('pkcs8', pkcs8, alg, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', tmp);
  if (!jwk.x) throw new Error('no public key in the JWK');
  const publicKey = await crypto.subtle.importKey('raw', /** @type {BufferSource} */ (fromBase64url(jwk.x)), alg, true, ['verify']);
  const privateKey = extractable ? tmp : await crypto.subtle.importKey('pkcs8', pkcs8, alg, false, ['sign']);
  pkcs8.fill(0);
  return { privateKey, publicKey };
}

/**
 * Generates a new Ed25519 key pair with a non-extractable private key.
 * @returns {Promise<CryptoKeyPair>}
 */
export async function generateKeyPair() {
  return /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']));
}

/**
 * @template T
 * @param {IDBRequest<T>} req
 * @returns {Promise<T>}
 */
function idbRequest(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** @returns {Promise<IDBDatabase>} */
function openKeyStore() {
  const req = indexedDB.open('keypost', 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore('keys');
  };
  return idbRequest(req);
}

/**
 * @template T
 * @param {string} name
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withLock(name, fn) {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return fn();
  return /** @type {Promise<T>} */ (locks.request(name, fn));
}

/**
 * Loads the key pair stored under name in IndexedDB, or generates and
 * stores one (the private key non-extractable: it never leaves WebCrypto).
 * Safe to call from several tabs at once.
 * @param {string} [name]
 * @returns {Promise<{keyPair: CryptoKeyPair, key: string}>}
 */
export async function loadKeyPair(name = 'default') {
  const keyPair = await withLock('keypost-keystore:' + name, async () => {
    const db = await openKeyStore();
    try {
      /** @type {CryptoKeyPair | undefined} */
      const stored = await idbRequest(db.transaction('keys').objectStore('keys').get(name));
      if (stored && stored.privateKey && stored.publicKey) return stored;
      const pair = await generateKeyPair();
      const tx = db.transaction('keys', 'readwrite');
      tx.objectStore('keys').put({ privateKey: pair.privateKey, publicKey: pair.publicKey }, name);
      await new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
      return pair;
    } finally {
      db.close();
    }
  });
  return { keyPair, key: await exportPublicKey(keyPair.publicKey) };
}

/**
 * Deletes the key stored under name. Open Keypost instances keep working
 * with the key they hold.
 * @param {string} [name]
 * @returns {Promise<void>}
 */
export async function deleteKeyPair(name = 'default') {
  await withLock('keypost-keystore:' + name, async () => {
    const db = await openKeyStore();
    try {
      await idbRequest(db.transaction('keys', 'readwrite').objectStore('keys').delete(name));
    } finally {
      db.close();
    }
  });
}

// ---------------------------------------------------------------------------
// Small helpers

/**
 * A bounded set that forgets its oldest entries.
 */
class BoundedSet {
  /** @param {number} max */
  constructor(max) {
    this.max = max;
    /** @type {Set<string>} */
    this.set = new Set();
  }
  /**
   * Adds s; reports whether it was new.
   * @param {string} s
   */
  add(s) {
    if (this.set.has(s)) return false;
    this.set.add(s);
    if (this.set.size > this.max) {
      const oldest = this.set.values().next();
      if (!oldest.done) this.set.delete(oldest.value);
    }
    return true;
  }
}

/**
 * The delay before reconnection attempt n (0-based): exponential, capped,
 * with jitter (half to all of it) so that many clients do not return at once.
 * @param {number} attempt
 * @returns {number}
 */
export function backoffDelay(attempt) {
  const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.round(d * (0.5 + Math.random() / 2));
}

/**
 * @param {unknown} v
 * @returns {any}
 */
function parseJSON(v) {
  try {
    return JSON.parse(String(v));
  } catch {
    return null;
  }
}

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Connection: one session of the leader tab

/**
 * @typedef {object} Outgoing
 * @property {string} to
 * @property {string} data
 * @property {string} id
 * @property {(r: SendResult) => void} resolve
 * @property {boolean} [reconcile] A re-send of an accepted message after a reconnect.
 * @property {boolean} [settled] A receipt arrived for it.
 * @property {SendResult} [result] The relay's answer, once accepted.
 */

/**
 * @typedef {object} PostAnswer
 * @property {number} status HTTP status, 0 when the request failed on the network.
 * @property {string} code The problem code on errors, '' on success.
 * @property {any} body The parsed JSON body.
 * @property {number} retryAfter Seconds, from Retry-After (0 when absent).
 */

/**
 * @typedef {object} ConnectionHooks
 * @property {(m: IncomingMessage) => void} message
 * @property {(r: Receipt) => void} receipt
 * @property {(s: {state: ConnState, rtt_ms: number | null, code: string | null}) => void} state
 */

/**
 * Connection runs the protocol for one key: the stream, the handshake and
 * registration, pongs, acks, sending with a per-recipient window, and
 * reconnection. It is used by the leader tab only.
 */
class Connection {
  /**
   * @param {object} o
   * @param {string} o.url
   * @param {CryptoKeyPair} o.keyPair
   * @param {string} o.key
   * @param {EventSourceCtor} o.EventSource
   * @param {FetchFn} o.fetch
   * @param {boolean} o.sessionHMAC Ask for a session secret and sign with it (§4.6).
   * @param {ConnectionHooks} o.hooks
   */
  constructor({ url, keyPair, key, EventSource, fetch, sessionHMAC, hooks }) {
    // Set at construction.
    this.url = url;
    this.keyPair = keyPair;
    this.key = key;
    this.ES = EventSource;
    this.fetch = fetch;
    this.sessionHMAC = sessionHMAC;
    this.hooks = hooks;

    // The current stream and session.
    /** @type {ConnState} */
    this.state = 'connecting';
    /** @type {string | null} */
    this.code = null;
    /** @type {number | null} */
    this.rttMs = null;
    this.gen = 0; // bumped on each new stream and on each drop: stale callbacks check it
    /** @type {EventSource | null} */
    this.es = null;
    /** @type {string | null} */
    this.session = null;
    this.nonce = 0;
    /**
     * The session secret (sessionHMAC), valid for this.session only: set
     * from the answer to its /v1/auth, cleared whenever the session
     * changes or ends. Non-extractable, and never leaves this object.
     * @type {CryptoKey | null}
     */
    this.secret = null;
    /**
     * Settles once the answer to the session's /v1/auth is handled, its
     * secret imported: with sessionHMAC, the session's other requests wait
     * for it, so that every one of them after auth is signed with the secret.
     * @type {Promise<void>}
     */
    this.authed = Promise.resolve();
    /** @type {Limits} */
    this.limits = { ...DEFAULT_LIMITS };
    this.attempt = 0; // reconnection attempts since the last ready
    this.readyCount = 0;
    this.lastEventAt = Date.now();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.reconnectTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.watchdog = null;

    // Sending.
    /** @type {Outgoing[]} */
    this.outbox = [];
    /** @type {Map<string, Map<string, Outgoing>>} recipient → id → message sent and not yet settled */
    this.inflight = new Map();
    /** @type {Map<string, number>} recipient → time before which it is not offered more (queue_full) */
    this.blockedUntil = new Map();
    this.sending = false;
    this.flushQueued = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;

    // Acks, batched.
    /** @type {{from: string, id: string}[]} */
    this.ackMessages = [];
    /** @type {{to: string, id: string}[]} */
    this.ackReceipts = [];
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.ackTimer = null;
    this.ackQueued = false;
    this.acking = false;

    this.onOnline = () => {
      if (this.state === 'reconnecting' && this.reconnectTimer) {
        clearTimeout(this.reconnectTimer);
        this.reconnectTimer = null;
        this.connect();
      }
    };
  }

  start() {
    if (typeof addEventListener === 'function') addEventListener('online', this.onOnline);
    this.watchdog = setInterval(() => this.checkAlive(), WATCHDOG_EVERY_MS);
    this.connect();
  }

  /**
   * Stops for good. code says why (a final closing code, or 'closed').
   * @param {string} code
   */
  stop(code) {
    if (this.state === 'closed') return;
    this.gen++;
    this.es?.close();
    this.es = null;
    this.secret = null;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    if (typeof removeEventListener === 'function') removeEventListener('online', this.onOnline);
    this.code = code;
    this.setState('closed');
    for (const m of this.outbox.splice(0)) m.resolve({ to: m.to, id: m.id, status: 'rejected', code: 'closed' });
  }

  /** @param {ConnState} state */
  setState(state) {
    this.state = state;
    this.hooks.state({ state, rtt_ms: this.rttMs, code: this.code });
  }

  connect() {
    this.reconnectTimer = null;
    if (this.state === 'closed') return;
    const g = ++this.gen;
    this.session = null;
    this.secret = null;
    this.nonce = 0;
    this.lastEventAt = Date.now();
    if (this.state !== 'connecting' && this.state !== 'reconnecting') this.setState('reconnecting');
    let es;
    try {
      es = new this.ES(this.url + PATH_EVENTS);
    } catch {
      this.drop();
      return;
    }
    this.es = es;
    /**
     * @param {string} type
     * @param {(data: any) => void} fn
     */
    const on = (type, fn) =>
      es.addEventListener(type, (ev) => {
        if (g !== this.gen) return;
        this.lastEventAt = Date.now();
        const data = parseJSON(/** @type {MessageEvent} */ (ev).data);
        if (data && typeof data === 'object') fn(data);
      });
    on('session', (d) => this.onSession(g, d));
    on('challenge', (d) => this.onChallenge(g, d));
    on('ready', (d) => this.onReady(d));
    on('message', (d) => this.onMessage(d));
    on('receipt', (d) => this.onReceipt(d));
    on('ping', (d) => this.onPing(g, d));
    on('closing', (d) => this.onClosing(d));
    // Any error (a drop, a non-200 answer, a refused connection): close it
    // and open a new one with backoff, rather than rely on EventSource's own
    // retry, which stops for good on a non-200 answer.
    es.onerror = () => {
      if (g === this.gen) this.drop();
    };
  }

  /** The stream is gone: reconnect with jittered exponential backoff. */
  drop() {
    if (this.state === 'closed') return;
    this.gen++;
    this.es?.close();
    this.es = null;
    this.session = null;
    this.secret = null;
    if (this.state !== 'reconnecting') this.setState('reconnecting');
    if (this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt++);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  checkAlive() {
    if (this.state === 'closed' || this.state === 'reconnecting') return;
    const quiet = Date.now() - this.lastEventAt;
    if (quiet > Math.max(2 * this.limits.ping_interval_ms, 20000) + 15000) this.drop();
  }

  /**
   * Signs and POSTs body to path on the current session: with the session
   * secret once there is one (not /v1/auth, which is always Ed25519), else
   * with the private key.
   * @param {number} g The stream generation the request belongs to.
   * @param {string} path
   * @param {unknown} payload
   * @returns {Promise<PostAnswer>}
   */
  async post(g, path, payload) {
    // (The challenge that follows auth may come before auth's answer.)
    if (this.sessionHMAC && path !== PATH_AUTH) await this.authed;
    for (let tries = 0; ; tries++) {
      if (g !== this.gen || !this.session) return { status: 0, code: 'stale', body: null, retryAfter: 0 };
      const body = utf8(JSON.stringify(payload));
      /** @type {Record<string, string>} */
      let headers;
      const req = { key: this.key, method: 'POST', path, session: this.session, body, nonce: ++this.nonce };
      try {
        ({ headers } =
          this.secret && path !== PATH_AUTH
            ? await signRequestHMAC({ secret: this.secret, ...req })
            : await signRequest({ privateKey: this.keyPair.privateKey, ...req }));
      } catch {
        // A session id that cannot go into a signature base: not a relay we can talk to.
        return { status: 0, code: 'sign', body: null, retryAfter: 0 };
      }
      /** @type {Response} */
      let res;
      try {
        res = await this.fetch(this.url + path, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...headers },
          body: /** @type {BodyInit} */ (body),
          cache: 'no-store',
        });
      } catch {
        return { status: 0, code: 'network', body: null, retryAfter: 0 };
      }
      const json = parseJSON(await res.text().catch(() => ''));
      const code = res.ok ? '' : String(json?.code ?? 'http_' + res.status);
      const retryAfter = Number(res.headers.get('Retry-After')) || 0;
      if (code === 'replayed' && tries < 2) continue; // a nonce raced another request: take a new one
      if (code === 'rate_limited' && tries < 3) {
        // Too many signed requests from this key: wait as told, then sign anew.
        await sleep(Math.min(Math.max(retryAfter, 1), 10) * 1000);
        continue;
      }
      return { status: res.status, code, body: json, retryAfter };
    }
  }

  /**
   * @param {number} g
   * @param {{session?: string, limits?: Partial<Limits>}} d
   */
  async onSession(g, d) {
    if (typeof d.session !== 'string' || d.session === this.session) return; // re-sent every 3 s until auth
    const session = (this.session = d.session);
    this.secret = null;
    this.nonce = 0;
    this.limits = { ...DEFAULT_LIMITS, ...(d.limits ?? {}) };
    /** @type {() => void} */
    let authed = () => {};
    this.authed = new Promise((resolve) => (authed = resolve));
    try {
      const auth = this.sessionHMAC ? { key: this.key, hmac: true } : { key: this.key };
      let res = await this.post(g, PATH_AUTH, auth);
      if (res.code === 'key_in_use') {
        // §3.1: the older session holding the key has been closed; repeat
        // /v1/auth on this session after at least a second, once.
        await sleep(KEY_IN_USE_RETRY_MS + Math.floor(Math.random() * 500));
        res = await this.post(g, PATH_AUTH, auth);
      }
      if (g !== this.gen || res.code === 'stale') return;
      if (res.status !== 200) {
        this.drop();
        return;
      }
      if (this.sessionHMAC && typeof res.body?.hmac_key === 'string') await this.takeSecret(g, session, res.body.hmac_key);
    } finally {
      authed();
    }
  }

  /**
   * Keeps the secret /v1/auth handed out for session, if the stream is
   * still the one that asked.
   * @param {number} g
   * @param {string} session
   * @param {string} hmacKey
   */
  async takeSecret(g, session, hmacKey) {
    /** @type {CryptoKey} */
    let secret;
    try {
      secret = await importSessionSecret(hmacKey);
    } catch {
      return; // not a secret this module can use: Ed25519 stays valid
    }
    if (g === this.gen && this.session === session) this.secret = secret;
  }

  /**
   * @param {number} g
   * @param {{id?: string}} d
   */
  async onChallenge(g, d) {
    if (typeof d.id !== 'string') return;
    const res = await this.post(g, PATH_CHALLENGE, { id: d.id });
    // bad_challenge arrives as a closing event; a network error is a drop.
    if (g === this.gen && res.status === 0 && res.code === 'network') this.drop();
  }

  /** @param {{rtt_ms?: number}} d */
  onReady(d) {
    this.rttMs = typeof d.rtt_ms === 'number' ? d.rtt_ms : null;
    this.attempt = 0;
    this.code = null;
    this.readyCount++;
    this.setState('ready');
    if (this.readyCount > 1) {
      // After a reconnect, offer again what was accepted but never settled:
      // the relay answers the original result for an id it still holds, and
      // takes it anew if it lost it (a restart). Receipts it kept come right
      // after ready, so wait for them first.
      const g = this.gen;
      setTimeout(() => {
        if (g === this.gen) this.reconcile();
      }, RECONCILE_DELAY_MS);
    }
    this.scheduleAck(0);
    this.scheduleFlush();
  }

  reconcile() {
    /** @type {Outgoing[]} */
    const again = [];
    for (const [to, msgs] of this.inflight) {
      for (const m of msgs.values()) {
        if (!m.settled) {
          m.reconcile = true;
          again.push(m);
        }
      }
      this.inflight.delete(to);
    }
    this.outbox.unshift(...again);
    this.scheduleFlush();
  }

  /** @param {IncomingMessage} d */
  onMessage(d) {
    if (typeof d.from !== 'string' || typeof d.id !== 'string') return;
    this.ackMessages.push({ from: d.from, id: d.id }); // ack every copy
    this.scheduleAck(ACK_DELAY_MS);
    this.hooks.message({ id: d.id, from: d.from, data: String(d.data ?? ''), sent_at: Number(d.sent_at) || 0, attempt: Number(d.attempt) || 1 });
  }

  /** @param {Receipt} d */
  onReceipt(d) {
    if (typeof d.to !== 'string' || typeof d.id !== 'string') return;
    this.ackReceipts.push({ to: d.to, id: d.id });
    this.scheduleAck(ACK_DELAY_MS);
    this.settle(d.to, d.id);
    this.hooks.receipt({ id: d.id, to: d.to, status: String(d.status) });
  }

  /**
   * Frees a message's slot in its recipient's window.
   * @param {string} to
   * @param {string} id
   */
  settle(to, id) {
    const msgs = this.inflight.get(to);
    const m = msgs?.get(id);
    if (msgs && m) {
      m.settled = true;
      msgs.delete(id);
      if (msgs.size === 0) this.inflight.delete(to);
    }
    this.blockedUntil.delete(to);
    this.scheduleFlush();
  }

  /**
   * @param {number} g
   * @param {{id?: string}} d
   */
  async onPing(g, d) {
    if (typeof d.id !== 'string') return;
    await this.post(g, PATH_PONG, { id: d.id });
  }

  /** @param {{code?: string}} d */
  onClosing(d) {
    const code = String(d.code ?? '');
    if (FINAL_CLOSINGS.includes(code)) {
      // Do not reconnect: two devices with one key would kick each other forever.
      this.stop(code);
    } else {
      this.drop(); // shutdown, slow_reader, dead: reconnect with backoff
    }
  }

  // ---- acks

  /** @param {number} delay */
  scheduleAck(delay) {
    if (this.ackTimer || this.ackQueued || (this.ackMessages.length === 0 && this.ackReceipts.length === 0)) return;
    if (typeof document !== 'undefined' && document.hidden) {
      // Background tabs run timers a second or more late: ack now.
      this.ackQueued = true;
      queueMicrotask(() => {
        this.ackQueued = false;
        this.flushAcks();
      });
      return;
    }
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.flushAcks();
    }, delay);
  }

  async flushAcks() {
    if (this.acking || !this.session || this.state !== 'ready') return;
    if (this.ackMessages.length === 0 && this.ackReceipts.length === 0) return;
    const messages = this.ackMessages.splice(0);
    const receipts = this.ackReceipts.splice(0);
    /** @type {{messages?: typeof messages, receipts?: typeof receipts}} */
    const payload = {};
    if (messages.length) payload.messages = messages;
    if (receipts.length) payload.receipts = receipts;
    this.acking = true;
    const res = await this.post(this.gen, PATH_ACK, payload);
    this.acking = false;
    if (res.status !== 200 && ![400, 401, 413, 415].includes(res.status)) {
      // Not taken (network, ended session, busy): keep them for the next
      // try or session; acks are idempotent and count for the key, not
      // the session.
      this.ackMessages.unshift(...messages);
      this.ackReceipts.unshift(...receipts);
    }
    if (res.status === 0 && res.code === 'network') this.drop();
    // Busy: wait as the relay says before trying again.
    this.scheduleAck(res.status === 429 || res.status === 503 ? Math.max(res.retryAfter, 1) * 1000 : ACK_DELAY_MS);
  }

  // ---- sending

  /**
   * Queues a message; resolves with its result once the relay answered.
   * Waits (instead of answering queue_full) while the recipient's window
   * of max_pending_per_pair unsettled messages is full, and while the
   * connection is not ready.
   * @param {string} to
   * @param {string} data
   * @param {string} id
   * @returns {Promise<SendResult>}
   */
  send(to, data, id) {
    return new Promise((resolve) => {
      if (this.state === 'closed') {
        resolve({ to, id, status: 'rejected', code: 'closed' });
        return;
      }
      if (!isKey(to)) {
        resolve({ to, id, status: 'rejected', code: 'bad_key' });
        return;
      }
      if (typeof data.isWellFormed === 'function' && !data.isWellFormed()) {
        resolve({ to, id, status: 'rejected', code: 'bad_data' });
        return;
      }
      if (utf8(data).length > this.limits.max_message_bytes) {
        resolve({ to, id, status: 'rejected', code: 'too_large' });
        return;
      }
      // A second send of an id still queued or unsettled gets the first
      // one's result, without another request (a follower tab re-offers
      // its unanswered sends when it sees a new leader).
      const twin = this.outbox.find((m) => m.id === id) ?? this.inflight.get(to)?.get(id);
      if (twin && twin.to === to && twin.data === data) {
        if (twin.result) {
          resolve(twin.result);
          return;
        }
        const prev = twin.resolve;
        twin.resolve = (r) => {
          prev(r);
          resolve(r);
        };
        return;
      }
      this.outbox.push({ to, data, id, resolve });
      this.scheduleFlush();
    });
  }

  scheduleFlush() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Sends what the windows allow, in one request; one request at a time keeps each recipient's order. */
  async flush() {
    if (this.sending || this.state !== 'ready' || this.outbox.length === 0) return;
    const now = Date.now();
    const window = Math.max(1, this.limits.max_pending_per_pair);
    const maxEntries = Math.max(1, this.limits.max_recipients);
    const budget = this.limits.max_body_bytes - 64;
    /** @type {Outgoing[]} */
    const batch = [];
    /** @type {Set<string>} recipients skipped this round: later messages to them wait too (order) */
    const skipped = new Set();
    let bytes = 14;
    let earliest = Infinity;
    for (const m of this.outbox) {
      if (batch.length >= maxEntries) break;
      if (skipped.has(m.to)) continue;
      const until = this.blockedUntil.get(m.to) ?? 0;
      const inflight = this.inflight.get(m.to);
      const size = JSON.stringify({ to: m.to, data: m.data, id: m.id }).length * 3 + 1;
      if (until > now || (inflight?.size ?? 0) >= window || (batch.length > 0 && bytes + size > budget)) {
        if (until > now) earliest = Math.min(earliest, until);
        skipped.add(m.to);
        continue;
      }
      bytes += size;
      batch.push(m);
      // Reserve the slot now: a receipt may come before the answer.
      let msgs = this.inflight.get(m.to);
      if (!msgs) this.inflight.set(m.to, (msgs = new Map()));
      msgs.set(m.id, m);
    }
    if (earliest < Infinity && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.scheduleFlush();
      }, earliest - now + 10);
    }
    if (batch.length === 0) return;
    this.outbox = this.outbox.filter((m) => !batch.includes(m));
    this.sending = true;
    const g = this.gen;
    let res;
    try {
      res = await this.post(g, PATH_SEND, { messages: batch.map((m) => ({ to: m.to, data: m.data, id: m.id })) });
    } finally {
      this.sending = false;
    }
    /** @param {Outgoing} m */
    const unreserve = (m) => {
      const msgs = this.inflight.get(m.to);
      msgs?.delete(m.id);
      if (msgs?.size === 0) this.inflight.delete(m.to);
    };
    const results = res.status === 200 && Array.isArray(res.body?.results) ? res.body.results : null;
    if (results && results.length === batch.length) {
      /** @type {Outgoing[]} */
      const again = [];
      batch.forEach((m, i) => {
        /** @type {SendResult} */
        const r = results[i];
        if (r.status === 'accepted') {
          // Its slot stays reserved until its receipt (which may already have come).
          if (!m.reconcile) {
            m.result = r;
            m.resolve(r);
          }
          return;
        }
        unreserve(m);
        if (r.code === 'queue_full') {
          // The relay holds more for this recipient than this tab knows of
          // (sent by a previous leader): wait for a receipt, or a second.
          this.blockedUntil.set(m.to, Date.now() + QUEUE_FULL_RETRY_MS);
          again.push(m);
          return;
        }
        if (m.reconcile) {
          // The relay lost the message (it restarted) and cannot take it now.
          m.settled = true;
          this.hooks.receipt({ id: m.id, to: m.to, status: 'undeliverable', local: true, code: String(r.code) });
          return;
        }
        m.resolve(r);
      });
      this.outbox.unshift(...again);
    } else if (res.status === 0 || res.status === 404 || res.code === 'not_ready' || res.status === 429 || res.status >= 500) {
      // Not taken (the stream dropped, the session ended, the relay is busy):
      // offer them again, with the same ids, so nothing is sent twice.
      batch.forEach(unreserve);
      if (/** @type {ConnState} */ (this.state) === 'closed') {
        // Stopped for good while the request was out: stop() settled the
        // outbox then, so these are answered here, or never.
        for (const m of batch) m.resolve({ to: m.to, id: m.id, status: 'rejected', code: 'closed' });
        return;
      }
      this.outbox.unshift(...batch);
      if (res.status === 429 || res.status >= 500) {
        const until = Date.now() + Math.max(1, res.retryAfter || 1) * 1000;
        for (const m of batch) this.blockedUntil.set(m.to, until);
      }
      if (res.status === 0 && res.code === 'network' && g === this.gen) this.drop();
    } else {
      // The request as a whole was refused (e.g. 400, 413): every entry gets that code.
      for (const m of batch) {
        unreserve(m);
        if (m.reconcile) this.hooks.receipt({ id: m.id, to: m.to, status: 'undeliverable', local: true, code: res.code });
        else m.resolve({ to: m.to, id: m.id, status: 'rejected', code: res.code });
      }
    }
    this.scheduleFlush();
  }
}

// ---------------------------------------------------------------------------
// Keypost: the public API, one per tab

/**
 * @typedef {(
 *   | {t: 'hello', tab: string}
 *   | {t: 'state', tab: string, leader: string, info: {state: ConnState, rtt_ms: number | null, code: string | null}}
 *   | {t: 'send', tab: string, rid: string, to: string, data: string, id: string}
 *   | {t: 'result', tab: string, rid: string, result: SendResult}
 *   | {t: 'sent', tab: string, sent: SentInfo}
 *   | {t: 'message', tab: string, message: IncomingMessage}
 *   | {t: 'receipt', tab: string, receipt: Receipt}
 * )} ChannelMessage
 */

/**
 * A keypost client for one key, in one tab. Events (also as CustomEvents
 * with `detail`, see addEventListener): `message`, `receipt`, `state`,
 * `sent`.
 */
export class Keypost extends EventTarget {
  /**
   * Opens a client: loads (or creates) the stored key, then joins the
   * other tabs of this key, or connects if it is the first.
   * @param {KeypostOptions} [options]
   * @returns {Promise<Keypost>}
   */
  static async open(options = {}) {
    let keyPair = options.keyPair;
    let key;
    if (keyPair) {
      key = await exportPublicKey(keyPair.publicKey);
    } else {
      ({ keyPair, key } = await loadKeyPair(options.name ?? 'default'));
    }
    const kp = new Keypost(keyPair, key, options);
    kp.#start(options.share ?? true);
    return kp;
  }

  /** @type {CryptoKeyPair} */
  #keyPair;
  #url;
  /** @type {EventSourceCtor} */
  #ES;
  /** @type {FetchFn} */
  #fetch;
  #sessionHMAC;
  #tab = crypto.randomUUID();
  /** @type {Connection | null} set while this tab is the leader */
  #conn = null;
  /** @type {BroadcastChannel | null} */
  #channel = null;
  /** @type {string | null} */
  #leader = null;
  /** @type {Map<string, {to: string, data: string, id: string, resolve: (r: SendResult) => void}>} sends forwarded to the leader */
  #forwarded = new Map();
  #seen = new BoundedSet(SEEN_MAX);
  #seenReceipts = new BoundedSet(SEEN_MAX);
  /**
   * Sends of this leader whose result is not known yet, by message id,
   * with the receipts that came for them meanwhile: the receipt can come
   * over the stream before the send's POST is answered, and the other
   * tabs must hear of the send ('sent') before its receipt, or they would
   * have nothing to attach the receipt to.
   * @type {Map<string, Receipt[]>}
   */
  #inflight = new Map();
  /** @type {AbortController | null} */
  #lockAbort = null;
  /** @type {(() => void) | null} releases the leader lock */
  #release = null;
  #closed = false;
  /** @type {StateInfo} */
  #state = { state: 'connecting', rtt_ms: null, code: null, leader: false };

  /**
   * Use Keypost.open.
   * @param {CryptoKeyPair} keyPair
   * @param {string} key
   * @param {KeypostOptions} options
   */
  constructor(keyPair, key, options) {
    super();
    /** This client's public key: its address (base64url, 43 chars). */
    this.key = key;
    this.#keyPair = keyPair;
    this.#url = (options.url ?? globalThis.location?.origin ?? '').replace(/\/+$/, '');
    this.#ES = options.EventSource ?? globalThis.EventSource;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#sessionHMAC = options.sessionHMAC ?? false;
  }

  /** The connection state: connecting, ready, reconnecting or closed. */
  get state() {
    return this.#state.state;
  }

  /** The round-trip time the relay measured at registration, in ms. */
  get rttMs() {
    return this.#state.rtt_ms;
  }

  /** Why the connection closed for good, or null. */
  get closeCode() {
    return this.#state.code;
  }

  /** Whether this tab holds the stream for its key. */
  get isLeader() {
    return this.#conn !== null;
  }

  /**
   * Listens to an event; returns a function that stops listening.
   * @template {keyof KeypostEventMap} K
   * @param {K} type
   * @param {(detail: KeypostEventMap[K]) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    /** @param {Event} ev */
    const listener = (ev) => fn(/** @type {CustomEvent<KeypostEventMap[K]>} */ (ev).detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /**
   * Sends data to the key `to`. Resolves with the relay's result for it:
   * `accepted` (a `receipt` event follows when it is settled) or `rejected`
   * with a code. Waits while `to` already has max_pending_per_pair of this
   * key's messages unsettled, and while not connected; never rejects.
   * @param {string} to
   * @param {string} data
   * @param {{id?: string}} [opts] A message id (a lowercase UUID); default a new random one.
   * @returns {Promise<SendResult>}
   */
  async send(to, data, opts = {}) {
    const id = opts.id ?? crypto.randomUUID();
    if (this.#closed) return { to, id, status: 'rejected', code: 'closed' };
    if (this.#conn) return this.#sendAsLeader(to, data, id);
    // A follower: the leader tab signs and sends it.
    const rid = crypto.randomUUID();
    return new Promise((resolve) => {
      this.#forwarded.set(rid, { to, data, id, resolve });
      this.#post({ t: 'send', tab: this.#tab, rid, to, data, id });
    });
  }

  /**
   * @param {string} to
   * @param {string} data
   * @param {string} id
   * @returns {Promise<SendResult>}
   */
  async #sendAsLeader(to, data, id) {
    if (!this.#conn) return { to, id, status: 'rejected', code: 'closed' };
    /** @type {Receipt[]} */
    const early = [];
    this.#inflight.set(id, early);
    /** @type {SendResult} */
    let result;
    try {
      result = await this.#conn.send(to, data, id);
    } finally {
      if (this.#inflight.get(id) === early) this.#inflight.delete(id);
    }
    /** @type {SentInfo} */
    const sent = { to, id, data, result };
    this.#emit('sent', sent);
    this.#post({ t: 'sent', tab: this.#tab, sent });
    for (const r of early) this.#receipt(r);
    return result;
  }

  /**
   * Hands on the receipts held for sends still waiting for their answer,
   * when this tab stops leading: the relay has them acked already and will
   * not send them again.
   */
  #releaseHeld() {
    for (const early of this.#inflight.values()) for (const r of early.splice(0)) this.#receipt(r);
  }

  /**
   * Hands a receipt of the leader's stream to this tab and the others.
   * @param {Receipt} r
   */
  #receipt(r) {
    this.#post({ t: 'receipt', tab: this.#tab, receipt: r });
    this.#onReceipt(r);
  }

  /** Closes this tab's client; another tab of the key takes over the stream. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#releaseHeld();
    this.#conn?.stop('closed');
    this.#conn = null;
    this.#lockAbort?.abort();
    this.#release?.();
    this.#channel?.close();
    this.#channel = null;
    for (const f of this.#forwarded.values()) f.resolve({ to: f.to, id: f.id, status: 'rejected', code: 'closed' });
    this.#forwarded.clear();
    this.#setState({ state: 'closed', rtt_ms: this.#state.rtt_ms, code: 'closed', leader: false });
  }

  /** @param {boolean} share */
  #start(share) {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    if (!share || !locks || typeof BroadcastChannel === 'undefined') {
      this.#lead();
      return;
    }
    this.#channel = new BroadcastChannel('keypost:' + this.key);
    this.#channel.onmessage = (ev) => this.#onChannel(/** @type {ChannelMessage} */ (ev.data));
    this.#lockAbort = new AbortController();
    locks
      .request('keypost:' + this.key, { signal: this.#lockAbort.signal }, () => {
        if (this.#closed) return undefined;
        this.#lead();
        // Hold the lock until close() or the tab goes away.
        return new Promise((resolve) => {
          this.#release = () => resolve(undefined);
        });
      })
      .catch(() => {}); // aborted by close()
    // Until the lock is ours, another tab leads: ask it for its state.
    this.#post({ t: 'hello', tab: this.#tab });
  }

  /** Becomes the tab that holds the stream. */
  #lead() {
    this.#leader = this.#tab;
    this.#conn = new Connection({
      url: this.#url,
      keyPair: this.#keyPair,
      key: this.key,
      EventSource: this.#ES,
      fetch: this.#fetch,
      // Only this, the leader's connection, ever holds the session secret:
      // the other tabs forward their sends (never a signature or a key)
      // over the channel, and nothing of the session is stored.
      sessionHMAC: this.#sessionHMAC,
      hooks: {
        message: (m) => {
          this.#post({ t: 'message', tab: this.#tab, message: m });
          this.#onMessage(m);
        },
        receipt: (r) => {
          const early = this.#inflight.get(r.id);
          if (early) early.push(r);
          else this.#receipt(r);
        },
        state: (info) => {
          // Closing this tab on purpose is not news for the others: one of
          // them takes over.
          if (this.#closed) return;
          if (info.state === 'closed') this.#releaseHeld(); // their sends may never be answered now
          this.#post({ t: 'state', tab: this.#tab, leader: this.#tab, info });
          this.#setState({ ...info, leader: true });
        },
      },
    });
    // Sends that were forwarded to the previous leader and not answered.
    const pending = [...this.#forwarded.values()];
    this.#forwarded.clear();
    for (const f of pending) this.#sendAsLeader(f.to, f.data, f.id).then(f.resolve);
    this.#conn.start();
  }

  /** @param {ChannelMessage} msg */
  #post(msg) {
    try {
      this.#channel?.postMessage(msg);
    } catch {
      // closed
    }
  }

  /** @param {ChannelMessage} msg */
  #onChannel(msg) {
    if (this.#closed || !msg || typeof msg !== 'object') return;
    switch (msg.t) {
      case 'hello':
        if (this.#conn) {
          const { state, rttMs, code } = this.#conn;
          this.#post({ t: 'state', tab: this.#tab, leader: this.#tab, info: { state, rtt_ms: rttMs, code } });
        }
        break;
      case 'state':
        if (this.#conn) break; // only one leader; a stale message from the last one
        if (msg.leader !== this.#leader) {
          // A new leader: offer it what the old one never answered (same
          // ids, so nothing is sent twice).
          this.#leader = msg.leader;
          for (const [rid, f] of this.#forwarded) this.#post({ t: 'send', tab: this.#tab, rid, to: f.to, data: f.data, id: f.id });
        }
        this.#setState({ ...msg.info, leader: false });
        break;
      case 'send':
        if (!this.#conn) break;
        this.#sendAsLeader(msg.to, msg.data, msg.id).then((result) => {
          this.#post({ t: 'result', tab: msg.tab, rid: msg.rid, result });
        });
        break;
      case 'result': {
        if (msg.tab !== this.#tab) break;
        const f = this.#forwarded.get(msg.rid);
        if (f) {
          this.#forwarded.delete(msg.rid);
          f.resolve(msg.result);
        }
        break;
      }
      case 'sent':
        this.#emit('sent', msg.sent);
        break;
      case 'message':
        this.#onMessage(msg.message);
        break;
      case 'receipt':
        this.#onReceipt(msg.receipt);
        break;
    }
  }

  /** @param {IncomingMessage} m */
  #onMessage(m) {
    // At least once: the same (from, id) may come again after a reconnect.
    if (this.#seen.add(m.from + ' ' + m.id)) this.#emit('message', m);
  }

  /** @param {Receipt} r */
  #onReceipt(r) {
    if (this.#seenReceipts.add(r.to + ' ' + r.id)) this.#emit('receipt', r);
  }

  /** @param {StateInfo} s */
  #setState(s) {
    const p = this.#state;
    this.#state = s;
    if (p.state !== s.state || p.rtt_ms !== s.rtt_ms || p.code !== s.code || p.leader !== s.leader) this.#emit('state', s);
  }

  /**
   * @template {keyof KeypostEventMap} K
   * @param {K} type
   * @param {KeypostEventMap[K]} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
