// The relay restarts under open pages: they reconnect and keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../helpers/relay.js';
import { browserSuite, openPage, sendFromPage, waitIncoming, waitDelivered, waitReady, states } from '../helpers/browser.js';

const suite = browserSuite();

test('pages reconnect after the relay restarts on the same port, and keep working', { timeout: 120_000 }, async (t) => {
  const a = await openPage(await suite.newContext(), suite.relay.url + '/');
  const b = await openPage(await suite.newContext(), suite.relay.url + '/');
  await waitDelivered(await sendFromPage(a.page, b.key, 'before any restart'));
  await waitIncoming(b.page, 'before any restart');

  // SIGTERM: the relay closes every stream with closing{shutdown};
  // SIGKILL: the streams just drop. Both must end in a reconnect.
  for (const signal of /** @type {const} */ (['SIGTERM', 'SIGKILL'])) {
    const addr = suite.relay.addr;
    await suite.relay.stop(signal);
    for (const p of [a, b]) {
      await p.page.waitForSelector('[data-testid=status][data-state=reconnecting]', { timeout: 10_000 });
    }
    suite.relay = await startRelay(suite.build, { addr });
    const t0 = Date.now();
    await Promise.all([waitReady(a.page, 30_000), waitReady(b.page, 30_000)]);
    const reconnectMs = Date.now() - t0;
    t.diagnostic(`reconnected after ${signal} in ${reconnectMs} ms`);

    const ab = await sendFromPage(a.page, b.key, `A to B after ${signal}`);
    await waitIncoming(b.page, `A to B after ${signal}`);
    await waitDelivered(ab);
    const ba = await sendFromPage(b.page, a.key, `B to A after ${signal}`);
    await waitIncoming(a.page, `B to A after ${signal}`);
    await waitDelivered(ba);
  }

  for (const p of [a, b]) {
    const s = await states(p.page);
    assert.ok(!s.some((x) => x.startsWith('closed')), `never closed for good: ${s}`);
    assert.equal(s.filter((x) => x === 'ready').length, 3, `ready three times: ${s}`);
    assert.equal(await p.page.locator('[data-testid=log] li.in').count(), p === a ? 2 : 3, 'no message shown twice');
    // The browser logs the dropped and refused streams; nothing else may fail.
    assert.deepEqual(p.errors.filter((e) => !/^console: Failed to load resource: net::ERR_/.test(e)), []);
  }
});
