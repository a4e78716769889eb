// The package in a real browser: Debian's Chromium driven by playwright-core loads a page whose
// script is bundled with esbuild from `import ... from 'nearest'` (as a user's bundler would,
// through the package's exports and browser fields). The page must load the WebAssembly kernels
// (kernels.ready(): browsers refuse synchronous compilation of modules over 4 KB on the main
// thread) and give the same answers as Node: exact search, a seeded single-threaded HNSW graph,
// an index round-tripped through toBuffer, and a filtered VectorStore search. Served on loopback
// twice: plain, and cross-origin isolated (shared memory available).
// Needs /usr/bin/chromium (Debian package chromium): skipped, saying so, when absent — except with
// NEAREST_REQUIRE_BROWSER=1 (set by .ci/run, which installs it), where its absence fails.
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as esbuild from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { FlatIndex, HnswIndex, VectorStore, indexFromBuffer, indexToBuffer } from 'nearest';
import { browserCase } from './fixtures/browser-case.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const available = existsSync(CHROMIUM);
if (!available) console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

describe.runIf(!available && process.env.NEAREST_REQUIRE_BROWSER === '1')('in a real browser (required)', () => {
  it('has Chromium to run in', () => { expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}`).toBe(true); });
});

describe.skipIf(!available)('in a real browser (Chromium)', () => {
  let server: Server;
  let base = '';
  let browser: Browser;
  let bundle = '';
  let work = '';

  beforeAll(async () => {
    // A node_modules with the package in it, as after `npm install nearest`.
    work = mkdtempSync(join(tmpdir(), 'nearest-browser-'));
    mkdirSync(join(work, 'node_modules'));
    symlinkSync(root, join(work, 'node_modules', 'nearest'), 'dir');
    const built = await esbuild.build({
      entryPoints: [join(here, 'fixtures', 'browser-entry.ts')],
      bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false,
      nodePaths: [join(work, 'node_modules')], logLevel: 'silent',
    });
    bundle = built.outputFiles[0].text;
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const headers: Record<string, string> = url.searchParams.has('isolated') || url.pathname === '/bundle.js'
        ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' }
        : {};
      if (url.pathname === '/bundle.js') { res.writeHead(200, { 'content-type': 'text/javascript', ...headers }); res.end(bundle); return; }
      if (url.pathname === '/') { res.writeHead(200, { 'content-type': 'text/html', ...headers }); res.end('<!doctype html><title>nearest</title><script type="module" src="/bundle.js"></script>'); return; }
      res.writeHead(404); res.end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => (server ? server.close(done) : done(undefined)));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const expected = () => browserCase({ FlatIndex, HnswIndex, VectorStore, indexFromBuffer, indexToBuffer });

  for (const isolated of [false, true]) {
    it(`loads the WebAssembly kernels and answers as Node does (${isolated ? 'cross-origin isolated' : 'plain page'})`, async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${base}/${isolated ? '?isolated' : ''}`);
      await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 60_000 });
      const got = await page.evaluate(() => (globalThis as { __result?: Record<string, unknown> }).__result!);
      await page.close();
      expect(errors).toEqual([]);
      expect(got.error).toBeUndefined();
      expect(got.isolated).toBe(isolated);
      expect(got.after).toBe('wasm-simd128');
      expect(got.kernels).toBe('wasm-simd128');
      const want = expected();
      expect(got.flatIds).toEqual(want.flatIds);
      expect(got.hnswIds).toEqual(want.hnswIds);
      expect(got.copyIds).toEqual((want.hnswIds as number[][])[0]);
      expect(got.storeHits).toEqual(want.storeHits);
    }, 120_000);
  }
});
