// Two browsers (two contexts, two keys) chat through the demo page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, openPage, sendFromPage, waitIncoming, waitDelivered, waitReady, states, screenshot } from '../helpers/browser.js';

const suite = browserSuite();

test('two pages chat both ways and see delivery ticks', { timeout: 60_000 }, async () => {
  const { relay } = suite;
  const ctxA = await suite.newContext({ viewport: { width: 1100, height: 760 } });
  const ctxB = await suite.newContext({ viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true });
  const a = await openPage(ctxA, relay.url + '/');
  assert.match(a.key, /^[A-Za-z0-9_-]{43}$/);
  // B opens A's share link: the peer field is filled in.
  const b = await openPage(ctxB, `${relay.url}/#peer=${a.key}`);
  assert.notEqual(a.key, b.key, 'each context has its own key');
  assert.equal(await b.page.getByTestId('peer-key').inputValue(), a.key);
  assert.equal(await a.page.getAttribute('#share-link', 'href'), `${relay.url}/#peer=${a.key}`);
  assert.match((await a.page.getByTestId('status').textContent()) ?? '', /connected · RTT \d+ ms/);

  const hello = await sendFromPage(b.page, a.key, 'Hi A, this is B 👋');
  await waitIncoming(a.page, 'Hi A, this is B 👋');
  await waitDelivered(hello);

  // A replies to the key the message came from.
  const reply = await sendFromPage(a.page, b.key, 'Hello B! Got it.');
  await waitIncoming(b.page, 'Hello B! Got it.');
  await waitDelivered(reply);

  // A few more each way, including text that must stay text.
  const more = [
    await sendFromPage(b.page, a.key, '<b>not bold</b> & "quoted"'),
    await sendFromPage(a.page, b.key, 'line one\nline two'),
    await sendFromPage(b.page, a.key, 'Ключ — это адрес.'),
  ];
  await waitIncoming(a.page, '<b>not bold</b> & "quoted"');
  await waitIncoming(b.page, 'line one');
  await waitIncoming(a.page, 'Ключ — это адрес.');
  for (const e of more) await waitDelivered(e);
  assert.equal(await a.page.locator('[data-testid=log] b').count(), 0, 'message text is not parsed as HTML');
  assert.equal(await a.page.locator('[data-testid=log] li.in').count(), 3, 'each message shown once');
  assert.match((await a.page.locator('li.out[data-state=delivered] .state').first().textContent()) ?? '', /✓✓/);

  await screenshot(a.page, 'conversation-desktop');
  await screenshot(b.page, 'conversation-phone');

  for (const p of [a, b]) {
    assert.deepEqual(p.errors, []);
    assert.deepEqual((await states(p.page)).filter((s) => s !== 'connecting'), ['ready'], 'connected once, never dropped');
  }

  // The key pair is kept in IndexedDB, the private key non-extractable,
  // and the page keeps its address across reloads.
  const stored = await a.page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open('keypost');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const get = req.result.transaction('keys').objectStore('keys').get('default');
          get.onsuccess = () => {
            const { privateKey, publicKey } = get.result;
            resolve({ alg: privateKey.algorithm.name, extractable: privateKey.extractable, usages: privateKey.usages, pub: publicKey.type });
          };
        };
      }),
  );
  assert.deepEqual(stored, { alg: 'Ed25519', extractable: false, usages: ['sign'], pub: 'public' });
  await a.page.reload();
  await waitReady(a.page);
  assert.equal((await a.page.textContent('[data-testid=my-key]'))?.trim(), a.key);
});
