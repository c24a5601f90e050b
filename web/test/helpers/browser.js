// Test harness: headless Debian Chromium driven by playwright-core.
import { before, afterEach } from 'node:test';
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { moduleRoot, relaySuite, cleanup } from './relay.js';

/** Chromium from Debian's package (apt-get install chromium); override with CHROMIUM_PATH. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches headless Chromium. Playwright gives every launch a fresh,
 * temporary user-data dir and every context its own storage (IndexedDB,
 * so its own key).
 */
export function launch() {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true, timeout: 30_000 });
}

/**
 * A relay and a browser for the tests of one file, set up by browserSuite.
 * @typedef {import('./relay.js').RelaySuite & {
 *   browser: import('playwright-core').Browser,
 *   newContext: (options?: import('playwright-core').BrowserContextOptions) => Promise<import('playwright-core').BrowserContext>,
 * }} BrowserSuite
 */

/**
 * relaySuite, and Chromium launched before the file's tests and closed
 * after them. newContext makes a browser context that is closed after the
 * test that made it.
 * @returns {BrowserSuite}
 */
export function browserSuite() {
  const s = /** @type {BrowserSuite} */ (relaySuite());
  /** @type {import('playwright-core').BrowserContext[]} */
  let contexts = [];
  before(async () => {
    s.browser = await launch();
  });
  s.defer(() => s.browser?.close());
  s.newContext = async (options) => {
    const ctx = await s.browser.newContext(options);
    contexts.push(ctx);
    return ctx;
  };
  afterEach(() => {
    const open = contexts;
    contexts = [];
    return cleanup(...open.map((ctx) => () => ctx.close()));
  });
  return s;
}

/** Where screenshots go: artifacts/screenshots/ at the repo root (git-ignored). */
export const screenshotDir = path.join(moduleRoot, 'artifacts', 'screenshots');

/**
 * Saves a screenshot of page as artifacts/screenshots/<name>.png.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, name + '.png');
  await page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
  return file;
}

/**
 * Opens the demo page in a context and waits until it is connected.
 * Console errors and page errors are collected in the returned list.
 * @param {import('playwright-core').BrowserContext} ctx
 * @param {string} url
 */
export async function openPage(ctx, url) {
  const page = await ctx.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push('console: ' + m.text());
  });
  page.setDefaultTimeout(15_000);
  await page.goto(url, { timeout: 15_000 });
  // Every state the page goes through, for the tests to check.
  await page.waitForFunction(() => /** @type {any} */ (window).keypost, null, { timeout: 15_000 }).catch((e) => {
    throw new Error(`the page did not start: ${e.message}\n${errors.join('\n')}`);
  });
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__states = [w.keypost.state];
    w.keypost.on('state', (/** @type {any} */ s) => w.__states.push(s.state + (s.code ? ':' + s.code : '')));
  });
  await waitReady(page);
  const key = (await page.textContent('[data-testid=my-key]'))?.trim() ?? '';
  return { page, key, errors };
}

/**
 * Every state the page went through since openPage, e.g. ['connecting', 'ready'].
 * @param {import('playwright-core').Page} page
 */
export function states(page) {
  return page.evaluate(() => /** @type {string[]} */ (/** @type {any} */ (window).__states));
}

/**
 * @param {import('playwright-core').Page} page
 * @param {number} [timeout]
 */
export function waitReady(page, timeout = 20_000) {
  return page.waitForSelector('[data-testid=status][data-state=ready]', { timeout });
}

/**
 * Types a message to peer in the demo page and sends it with the button;
 * returns the log entry's locator.
 * @param {import('playwright-core').Page} page
 * @param {string} peer
 * @param {string} text
 */
export async function sendFromPage(page, peer, text) {
  const field = page.getByTestId('peer-key');
  if ((await field.inputValue()) !== peer) await field.fill(peer);
  await page.getByTestId('message').fill(text);
  await page.getByTestId('send').click();
  return page.locator('[data-testid=log] li.out', { hasText: text }).last();
}

/**
 * Waits until the log of page shows an incoming message with text.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 * @param {number} [timeout]
 */
export function waitIncoming(page, text, timeout = 15_000) {
  return page.locator('[data-testid=log] li.in', { hasText: text }).first().waitFor({ timeout });
}

/**
 * Waits until a sent entry shows the delivered ticks.
 * @param {import('playwright-core').Locator} entry
 * @param {number} [timeout]
 */
export async function waitDelivered(entry, timeout = 15_000) {
  await entry.and(entry.page().locator('[data-state=delivered]')).waitFor({ timeout });
}
