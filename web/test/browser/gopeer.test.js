// A browser and a Go client (package client, through web/test/gopeer)
// exchange messages both ways.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { goBuild, waitFor, track } from '../helpers/relay.js';
import { browserSuite, openPage, sendFromPage, waitIncoming, waitDelivered } from '../helpers/browser.js';

const suite = browserSuite();
/** @type {Awaited<ReturnType<typeof goBuild>>} */
let peerBuild;
/** @type {import('node:child_process').ChildProcess | undefined} */
let peer;

before(async () => {
  peerBuild = await goBuild('./web/test/gopeer');
});
suite.defer(() => peerBuild?.cleanup());
suite.defer(() => peer?.kill('SIGKILL'));

/**
 * Starts the Go peer; returns its key, its output lines and a writer.
 * @param {string} url
 */
async function startPeer(url) {
  const proc = track(spawn(peerBuild.bin, ['--url', url, '--timeout', '90s'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  peer = proc;
  /** @type {string[]} */
  const lines = [];
  let stderr = '';
  createInterface({ input: /** @type {import('node:stream').Readable} */ (proc.stdout) }).on('line', (l) => lines.push(l));
  proc.stderr?.on('data', (d) => (stderr += d));
  /** @param {RegExp} re */
  const line = (re, timeout = 15_000) =>
    waitFor(() => lines.find((l) => re.test(l)), timeout, `gopeer output ${re} (got ${JSON.stringify(lines)}; stderr ${stderr})`);
  const key = (await line(/^key /)).slice(4);
  /** @param {string} s */
  const write = (s) => proc.stdin?.write(s + '\n');
  return { key, line, write, lines };
}

test('a browser and a Go client exchange messages both ways', { timeout: 60_000 }, async () => {
  const { relay } = suite;
  try {
    const go = await startPeer(relay.url);
    assert.match(go.key, /^[A-Za-z0-9_-]{43}$/);
    const b = await openPage(await suite.newContext(), relay.url + '/');

    // Browser → Go: the Go peer gets it and echoes it back.
    const sent = await sendFromPage(b.page, go.key, 'hello, Go — ünïcödé ✓');
    const got = await go.line(/^got /);
    const [, from, id, data] = got.split(' ');
    assert.equal(from, b.key);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'the browser chose a v4 UUID');
    assert.equal(JSON.parse(got.slice(got.indexOf(data))), 'hello, Go — ünïcödé ✓', 'byte-exact');
    await waitDelivered(sent);
    await waitIncoming(b.page, 'echo: hello, Go — ünïcödé ✓');
    await go.line(/^sent \S+ delivered$/); // the echo's receipt: the browser acked it

    // Go → browser, started by the Go side.
    go.write(`send ${b.key} hello from the Go SDK`);
    await waitIncoming(b.page, 'hello from the Go SDK');
    await waitFor(() => go.lines.filter((l) => /^sent \S+ delivered$/.test(l)).length >= 2, 10_000, 'delivered receipt in Go');
    assert.deepEqual(b.errors, []);
  } finally {
    peer?.stdin?.end();
  }
});
