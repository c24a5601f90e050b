// Test harness: builds and runs a relay that serves the web page, on
// 127.0.0.1 only, and stops it. By default it builds web/test/devserver
// (`go build`, from the module root); KEYPOST_DEVSERVER_BIN names one built
// already, and KEYPOST_RELAY_BIN a built `keypost` binary, to test
// `keypost serve --addr …` instead (once it mounts the page).
import { before, after } from 'node:test';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Processes these helpers started: killed when the test process exits. */
const children = new Set();

/**
 * Kills proc (SIGKILL) when this test process exits, however it exits.
 * @param {import('node:child_process').ChildProcess} proc
 */
export function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

process.once('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});

// No test file runs longer than this, whatever hangs (an unref'd timer:
// it never keeps a finished file alive).
const FILE_LIMIT_MS = Number(process.env.KEYPOST_TEST_FILE_LIMIT_MS) || 240_000;
setTimeout(() => {
  console.error(`# test file still running after ${FILE_LIMIT_MS} ms: stopping it`);
  process.exit(1);
}, FILE_LIMIT_MS).unref();

/**
 * Runs every cleanup function, even when one fails, then throws the first error.
 * @param {...(() => unknown)} fns
 */
export async function cleanup(...fns) {
  let first;
  for (const fn of fns) {
    try {
      await fn();
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/** The Go module root (web/..). */
export const moduleRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The web directory. */
export const webRoot = path.join(moduleRoot, 'web');

/**
 * Runs a command with a time bound; resolves with its stdout.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd?: string, timeout?: number}} [opts]
 */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd ?? moduleRoot, timeout: opts.timeout ?? 300_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Builds a Go main package of this module into a temporary directory.
 * @param {string} pkg e.g. './web/test/devserver'
 * @returns {Promise<{bin: string, cleanup: () => void}>}
 */
export async function goBuild(pkg) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keypost-web-'));
  const bin = path.join(dir, path.basename(pkg));
  await run('go', ['build', '-o', bin, pkg]);
  return { bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Builds the relay binary the tests run.
 * @returns {Promise<{bin: string, args: string[], cleanup: () => void}>}
 */
export async function buildRelay() {
  if (process.env.KEYPOST_RELAY_BIN) {
    return { bin: process.env.KEYPOST_RELAY_BIN, args: ['serve'], cleanup: () => {} };
  }
  if (process.env.KEYPOST_DEVSERVER_BIN) {
    return { bin: process.env.KEYPOST_DEVSERVER_BIN, args: [], cleanup: () => {} };
  }
  const { bin, cleanup } = await goBuild('./web/test/devserver');
  return { bin, args: [], cleanup };
}

/**
 * A running relay.
 * @typedef {object} Relay
 * @property {string} url e.g. http://127.0.0.1:41234
 * @property {string} addr e.g. 127.0.0.1:41234
 * @property {import('node:child_process').ChildProcess} proc
 * @property {() => string} stderr what it wrote so far
 * @property {(signal?: NodeJS.Signals) => Promise<void>} stop
 */

/**
 * Starts the relay on addr (default a free port on 127.0.0.1) and waits,
 * at most timeoutMs, for its "keypost listening on http://ADDR" line. On
 * a fixed address it retries for a few seconds while the port is still
 * held by a previous process.
 * @param {{bin: string, args: string[]}} build
 * @param {{addr?: string, args?: string[], timeoutMs?: number}} [opts] args: more flags for the relay
 * @returns {Promise<Relay>}
 */
export async function startRelay(build, opts = {}) {
  const addr = opts.addr ?? '127.0.0.1:0';
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  const b = { bin: build.bin, args: [...build.args, ...(opts.args ?? [])] };
  for (;;) {
    try {
      return await startOnce(b, addr, deadline);
    } catch (err) {
      if (!/address already in use/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * @param {{bin: string, args: string[]}} build
 * @param {string} addr
 * @param {number} deadline
 * @returns {Promise<Relay>}
 */
function startOnce(build, addr, deadline) {
  if (!addr.startsWith('127.0.0.1:')) throw new Error('tests listen on 127.0.0.1 only');
  const proc = track(spawn(build.bin, [...build.args, '--addr', addr], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`relay did not start in time; stderr:\n${err}`));
    }, Math.max(0, deadline - Date.now()));
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      err += chunk;
      const m = /keypost listening on (http:\/\/(127\.0\.0\.1:\d+))/.exec(err);
      if (m && !started) {
        started = true;
        clearTimeout(timer);
        resolve({
          url: m[1],
          addr: m[2],
          proc,
          stderr: () => err,
          stop: async (signal = 'SIGTERM') => {
            if (proc.exitCode === null && proc.signalCode === null) {
              proc.kill(signal);
              const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
              await exited;
              clearTimeout(t);
            }
          },
        });
      }
    });
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code ?? sig}) before listening; stderr:\n${err}`));
    });
  });
}

/**
 * The relay of one test file, set up by relaySuite.
 * @typedef {object} RelaySuite
 * @property {Awaited<ReturnType<typeof buildRelay>>} build
 * @property {Relay} relay the running relay; a test that restarts it assigns the new one here, so that the new one is stopped
 * @property {(fn: () => unknown) => void} defer runs fn after the file's tests, before everything deferred earlier (like Go's t.Cleanup)
 */

/**
 * Builds and starts a relay before the file's tests, and stops and removes
 * it after them (node:test before and after hooks). The fields of the
 * returned suite are set once its before hook has run.
 * @returns {RelaySuite}
 */
export function relaySuite() {
  /** @type {(() => unknown)[]} */
  const deferred = [];
  const s = /** @type {RelaySuite} */ ({ defer: (fn) => deferred.push(fn) });
  s.defer(() => s.build?.cleanup());
  s.defer(() => s.relay?.stop());
  before(async () => {
    s.build = await buildRelay();
    s.relay = await startRelay(s.build);
  });
  after(() => cleanup(...[...deferred].reverse()));
  return s;
}

/**
 * Polls fn until it returns a truthy value, at most timeoutMs.
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {number} timeoutMs
 * @param {string} what
 * @returns {Promise<T>}
 */
export async function waitFor(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
