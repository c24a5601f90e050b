// @ts-check
// The keypost demo page: one key per browser profile, a conversation with
// any other key. Everything protocol-related is in keypost.js.
import { Keypost, isKey } from './keypost.js';

/** @typedef {import('./keypost.js').SendResult} SendResult */
/** @typedef {import('./keypost.js').StateInfo} StateInfo */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error('missing #' + id);
  return /** @type {T} */ (el);
}

const myKeyEl = $('my-key');
const copyKeyBtn = /** @type {HTMLButtonElement} */ ($('copy-key'));
const shareLink = /** @type {HTMLAnchorElement} */ ($('share-link'));
const copyLinkBtn = /** @type {HTMLButtonElement} */ ($('copy-link'));
const peerInput = /** @type {HTMLInputElement} */ ($('peer'));
const log = $('log');
const empty = $('empty');
const composer = /** @type {HTMLFormElement} */ ($('composer'));
const messageInput = /** @type {HTMLTextAreaElement} */ ($('message'));
const sendBtn = /** @type {HTMLButtonElement} */ ($('send'));
const formError = $('form-error');
const statusEl = $('status');
const statusText = statusEl.querySelector('.status-text') ?? statusEl;

/** Labels of the states of a sent message. */
const SENT_LABELS = /** @type {Record<string, string>} */ ({
  sending: 'sending…',
  sent: 'sent ✓',
  delivered: 'delivered ✓✓',
  expired: 'expired: not delivered in time',
  undeliverable: 'undeliverable',
});

/** Why a message was not taken, in words. */
const REJECT_LABELS = /** @type {Record<string, string>} */ ({
  recipient_offline: 'not sent: peer is offline',
  recipient_unknown: 'not sent: peer is not connected',
  too_large: 'not sent: too long',
  bad_key: 'not sent: not a valid key',
  bad_data: 'not sent: invalid text',
  recipient_busy: 'not sent: peer is busy',
  sender_busy: 'not sent: too many unsent messages',
  closed: 'not sent: disconnected',
});

/** @param {string} key */
function shortKey(key) {
  return key.slice(0, 6) + '…' + key.slice(-4);
}

/** @param {number} ms */
function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// ---- the peer field and the share link

function peerFromHash() {
  const m = /(?:^#|&)peer=([A-Za-z0-9_-]{43})(?:&|$)/.exec(location.hash);
  if (m) {
    peerInput.value = m[1];
    checkPeer();
  }
}

function checkPeer() {
  const v = peerInput.value.trim();
  peerInput.setCustomValidity(v === '' || isKey(v) ? '' : 'A key is 43 characters of letters, digits, - and _.');
  peerInput.classList.toggle('invalid', v !== '' && !isKey(v));
}

peerInput.addEventListener('input', checkPeer);
addEventListener('hashchange', peerFromHash);
peerFromHash();

/**
 * Copies text and says so on the button.
 * @param {HTMLButtonElement} btn
 * @param {string} text
 */
async function copy(btn, text) {
  const label = btn.textContent;
  try {
    await navigator.clipboard.writeText(text);
    btn.textContent = 'Copied';
  } catch {
    // No clipboard permission: select the text so the user can copy it.
    const range = document.createRange();
    range.selectNodeContents(btn === copyKeyBtn ? myKeyEl : shareLink);
    getSelection()?.removeAllRanges();
    getSelection()?.addRange(range);
    btn.textContent = 'Press Ctrl+C';
  }
  setTimeout(() => (btn.textContent = label), 1500);
}

// ---- the conversation log

/** @type {Map<string, HTMLLIElement>} sent messages by id */
const outgoing = new Map();

/**
 * @param {HTMLLIElement} li
 */
function append(li) {
  const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  empty.hidden = true;
  if (stick) li.scrollIntoView({ block: 'end' });
}

/**
 * @param {'in' | 'out'} dir
 * @param {string} text
 * @param {number} at
 * @param {string} who
 */
function entry(dir, text, at, who) {
  const li = document.createElement('li');
  li.className = 'entry ' + dir;
  li.dataset.testid = 'entry';
  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  const body = document.createElement('p');
  body.className = 'text';
  body.textContent = text;
  const meta = document.createElement('p');
  meta.className = 'meta';
  const whoEl = document.createElement(dir === 'in' ? 'button' : 'span');
  whoEl.className = 'who';
  whoEl.textContent = who;
  const time = document.createElement('time');
  time.textContent = clock(at);
  time.dateTime = new Date(at).toISOString();
  meta.append(whoEl, time);
  bubble.append(body, meta);
  li.append(bubble);
  return { li, meta, whoEl };
}

/**
 * Shows a message this key sent (from this tab or another one).
 * @param {string} id
 * @param {string} to
 * @param {string} text
 * @returns {HTMLLIElement}
 */
function addOutgoing(id, to, text) {
  const { li, meta } = entry('out', text, Date.now(), 'to ' + shortKey(to));
  li.dataset.id = id;
  const state = document.createElement('span');
  state.className = 'state';
  meta.append(state);
  outgoing.set(id, li);
  setSent(li, 'sending');
  append(li);
  return li;
}

/**
 * @param {HTMLLIElement} li
 * @param {string} state sending, sent, delivered, expired, undeliverable or rejected
 * @param {string} [code]
 */
function setSent(li, state, code) {
  // A final state is never overwritten by a late result.
  if (['delivered', 'expired', 'undeliverable', 'rejected'].includes(li.dataset.state ?? '') && state === 'sent') return;
  li.dataset.state = state;
  const el = li.querySelector('.state');
  if (!el) return;
  el.textContent = state === 'rejected' ? REJECT_LABELS[code ?? ''] ?? 'not sent: ' + code : SENT_LABELS[state] ?? state;
  el.setAttribute('title', code ?? state);
}

/**
 * @param {HTMLLIElement} li
 * @param {SendResult} r
 */
function applyResult(li, r) {
  if (r.status === 'accepted') setSent(li, 'sent');
  else setSent(li, 'rejected', r.code);
}

// ---- the connection

/** @param {StateInfo} s */
function showState(s) {
  statusEl.dataset.state = s.state;
  let text;
  switch (s.state) {
    case 'ready':
      text = s.rtt_ms === null ? 'connected' : `connected · RTT ${s.rtt_ms} ms`;
      break;
    case 'connecting':
      text = 'connecting…';
      break;
    case 'reconnecting':
      text = 'reconnecting…';
      break;
    default:
      text =
        s.code === 'key_conflict'
          ? 'disconnected: this key connected elsewhere. Reload to take it back.'
          : s.code && s.code !== 'closed'
            ? `disconnected (${s.code}). Reload to reconnect.`
            : 'disconnected';
  }
  statusText.textContent = text;
  statusEl.title = s.leader ? 'this tab holds the connection' : 'another tab of this browser holds the connection';
}

/** @param {string} msg */
function showError(msg) {
  formError.textContent = msg;
  formError.hidden = msg === '';
}

async function main() {
  let kp;
  try {
    kp = await Keypost.open();
  } catch (err) {
    showState({ state: 'closed', rtt_ms: null, code: 'unsupported', leader: false });
    showError('This browser cannot run keypost: ' + (err instanceof Error ? err.message : String(err)));
    return;
  }
  /** @type {Keypost} */
  const client = kp;
  // For tests and the console.
  /** @type {any} */ (window).keypost = client;

  myKeyEl.textContent = client.key;
  const link = `${location.origin}${location.pathname}#peer=${client.key}`;
  shareLink.href = link;
  shareLink.textContent = link;
  copyKeyBtn.disabled = copyLinkBtn.disabled = false;
  copyKeyBtn.addEventListener('click', () => copy(copyKeyBtn, client.key));
  copyLinkBtn.addEventListener('click', () => copy(copyLinkBtn, link));

  showState({ state: client.state, rtt_ms: client.rttMs, code: client.closeCode, leader: client.isLeader });
  client.on('state', showState);

  client.on('message', (m) => {
    const { li, whoEl } = entry('in', m.data, m.sent_at || Date.now(), 'from ' + shortKey(m.from));
    li.dataset.id = m.id;
    li.dataset.from = m.from;
    whoEl.title = 'Reply to ' + m.from;
    whoEl.addEventListener('click', () => {
      peerInput.value = m.from;
      checkPeer();
      messageInput.focus();
    });
    append(li);
    // A first message from someone while no peer is chosen: reply to them.
    if (peerInput.value.trim() === '') {
      peerInput.value = m.from;
      checkPeer();
    }
  });

  client.on('receipt', (r) => {
    const li = outgoing.get(r.id);
    if (li) setSent(li, r.status);
  });

  // Messages sent by this key from another tab.
  client.on('sent', (s) => {
    const li = outgoing.get(s.id) ?? addOutgoing(s.id, s.to, s.data);
    applyResult(li, s.result);
  });

  composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const to = peerInput.value.trim();
    const text = messageInput.value;
    if (!isKey(to)) {
      showError(to === '' ? "Enter your peer's key first." : "That peer key doesn't look right: it is 43 characters.");
      peerInput.focus();
      return;
    }
    if (text.trim() === '') return;
    showError('');
    const id = crypto.randomUUID();
    const li = addOutgoing(id, to, text);
    messageInput.value = '';
    autosize();
    client.send(to, text, { id }).then((r) => applyResult(li, r));
  });

  messageInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      composer.requestSubmit();
    }
  });
  messageInput.addEventListener('input', autosize);
  sendBtn.disabled = false;
}

/** Grows the message box with its text, up to a few lines. */
function autosize() {
  messageInput.style.height = 'auto';
  messageInput.style.height = Math.min(messageInput.scrollHeight, 160) + 'px';
}

sendBtn.disabled = true;
main();
