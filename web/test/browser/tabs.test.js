// Two tabs of one origin share one key and one stream: one tab leads
// (Web Locks), the other forwards through a BroadcastChannel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers/relay.js';
import { browserSuite, openPage, sendFromPage, waitIncoming, waitDelivered, waitReady, states, screenshot } from '../helpers/browser.js';

const suite = browserSuite();

/** @param {import('playwright-core').Page} page */
const isLeader = (page) => page.evaluate(() => /** @type {boolean} */ (/** @type {any} */ (window).keypost.isLeader));

test('two tabs with one key share one stream; the other takes over when the leader closes', { timeout: 90_000 }, async (t) => {
  const { relay } = suite;
  const ctx = await suite.newContext();
  const t1 = await openPage(ctx, relay.url + '/');
  const t2 = await openPage(ctx, relay.url + '/');
  const peer = await openPage(await suite.newContext(), relay.url + '/');
  assert.equal(t1.key, t2.key, 'same origin, same stored key');
  const leaders = [await isLeader(t1.page), await isLeader(t2.page)];
  assert.deepEqual(leaders.sort(), [false, true], 'exactly one tab leads');

  // Both tabs send; the peer gets both, and both tabs see both sends.
  const e1 = await sendFromPage(t1.page, peer.key, 'from tab one');
  const e2 = await sendFromPage(t2.page, peer.key, 'from tab two');
  await waitIncoming(peer.page, 'from tab one');
  await waitIncoming(peer.page, 'from tab two');
  await waitDelivered(e1);
  await waitDelivered(e2);
  await t1.page.locator('li.out[data-state=delivered]', { hasText: 'from tab two' }).waitFor({ timeout: 10_000 });
  await t2.page.locator('li.out[data-state=delivered]', { hasText: 'from tab one' }).waitFor({ timeout: 10_000 });

  // The peer answers: both tabs show it, once.
  await waitDelivered(await sendFromPage(peer.page, t1.key, 'hello, both tabs'));
  for (const tab of [t1, t2]) {
    await waitIncoming(tab.page, 'hello, both tabs');
    assert.equal(await tab.page.locator('li.in', { hasText: 'hello, both tabs' }).count(), 1);
  }
  await screenshot(t2.page, 'two-tabs');

  // No key conflict, no reconnect: one stream all along.
  for (const tab of [t1, t2]) {
    const s = await states(tab.page);
    assert.deepEqual(s.filter((x) => x !== 'connecting'), ['ready'], `tab states: ${s}`);
  }

  // The leader's tab closes: the other one takes the lock and connects.
  const [leader, follower] = (await isLeader(t1.page)) ? [t1, t2] : [t2, t1];
  const t0 = Date.now();
  await leader.page.close();
  await waitFor(() => isLeader(follower.page), 10_000, 'the follower to lead');
  await waitReady(follower.page);
  t.diagnostic(`takeover: the other tab was ready ${Date.now() - t0} ms after the leader closed`);
  const s = await states(follower.page);
  assert.ok(!s.some((x) => x.startsWith('closed')), `no final closing on takeover: ${s}`);

  await waitDelivered(await sendFromPage(peer.page, follower.key, 'after the takeover'), 20_000);
  await waitIncoming(follower.page, 'after the takeover');
  await waitDelivered(await sendFromPage(follower.page, peer.key, 'still here'));
  await waitIncoming(peer.page, 'still here');

  for (const tab of [follower, peer]) assert.deepEqual(tab.errors, []);
});

/**
 * Opens two tabs of one key and a peer, and holds the relay's answers to
 * the leading tab's sends for delayMs, so that a receipt can come first.
 * @param {number} delayMs
 */
async function tabsWithSlowSends(delayMs) {
  const { relay } = suite;
  const ctx = await suite.newContext();
  const t1 = await openPage(ctx, relay.url + '/');
  const t2 = await openPage(ctx, relay.url + '/');
  const peer = await openPage(await suite.newContext(), relay.url + '/');
  const [leader, follower] = (await isLeader(t1.page)) ? [t1, t2] : [t2, t1];
  await leader.page.route('**/v1/send', async (route) => {
    const response = await route.fetch();
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    await route.fulfill({ response }).catch(() => {}); // the page may be gone
  });
  return { leader, follower, peer };
}

test('a receipt that beats its send\'s answer still reaches the other tab, after the send', { timeout: 60_000 }, async () => {
  // 500 ms: the peer's ack, and with it the receipt on the leader's
  // stream, come first.
  const { leader, follower, peer } = await tabsWithSlowSends(500);
  const entry = await sendFromPage(leader.page, peer.key, 'the receipt comes first');
  await waitIncoming(peer.page, 'the receipt comes first');
  await waitDelivered(entry);
  await waitDelivered(follower.page.locator('li.out', { hasText: 'the receipt comes first' }), 10_000);
  for (const tab of [leader, follower, peer]) assert.deepEqual(tab.errors, []);
});

test('a receipt held for an unanswered send is handed on when the leading tab closes', { timeout: 60_000 }, async () => {
  // 3 s: the receipt comes first and waits for an answer that the leader,
  // closed meanwhile, never hands on.
  const { leader, follower, peer } = await tabsWithSlowSends(3_000);
  const entry = await sendFromPage(follower.page, peer.key, 'forwarded, then the leader went');
  await waitIncoming(peer.page, 'forwarded, then the leader went');
  await new Promise((resolve) => setTimeout(resolve, 500)); // the peer's ack and the receipt
  await leader.page.evaluate(() => /** @type {any} */ (window).keypost.close());
  await waitDelivered(entry, 10_000);
  for (const tab of [follower, peer]) assert.deepEqual(tab.errors, []);
});
