// Helpers of the server tests: temporary data directories, servers on ephemeral loopback ports
// (in this process, or `nearest serve` as a child process), a JSON client over fetch, and a
// fingerprint of a server's state for "a rejected request changed nothing" checks.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type NearestServer, type ServerOptions } from 'nearest/server';

export interface Reply { status: number; json: any; text: string; headers: Headers }

const dirs: string[] = [];
const servers: NearestServer[] = [];

/** A fresh temporary directory (removed by cleanup()). */
export function tempDir(prefix = 'nearest-server-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Starts a server on 127.0.0.1 with an ephemeral port and silent logs. */
export async function start(options: Partial<ServerOptions> = {}): Promise<NearestServer> {
  const s = createServer({ dataDir: options.dataDir ?? tempDir(), port: 0, logLevel: 'silent', ...options });
  servers.push(s);
  await s.listen();
  return s;
}

const MAIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist', 'cli', 'main.js');
const children: ChildProcess[] = [];

/** `nearest serve` as a child process (node dist/cli/main.js serve ...ARGS). */
export interface ServeProcess {
  child: ChildProcess;
  /** The URL of its `listening on URL` line; rejects if it ends before printing it. */
  url: Promise<string>;
  /** Its exit code and signal. */
  exit: Promise<[number | null, NodeJS.Signals | null]>;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `nearest serve` with these arguments and extra environment variables (cleanup() kills it if still running). */
export function spawnServe(args: string[], env: Record<string, string> = {}): ServeProcess {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '', err = '';
  const exit = new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('exit', (code, signal) => res([code, signal])));
  const url = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) res(m[1]);
    });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
    void exit.then(([code, signal]) => rej(new Error(`exited ${code ?? signal} before listening: ${err}`)));
  });
  url.catch(() => {});
  return { child, url, exit, stdout: () => out, stderr: () => err };
}

/** Closes every server started, kills child servers still running (after a failed test), and removes every temporary directory. */
export async function cleanup(): Promise<void> {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A request with a JSON body (or a raw one with its own content type). */
export async function call(
  base: string, method: string, path: string, body?: unknown,
  opts: { headers?: Record<string, string>; raw?: string | Uint8Array; contentType?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let payload: string | Uint8Array | undefined;
  if (opts.raw !== undefined) {
    payload = opts.raw;
    if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const r = await fetch(base + path, { method, headers, body: payload });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, json, text, headers: r.headers };
}

/** A client bound to a server and optional headers. */
export function client(server: NearestServer | string, headers: Record<string, string> = {}) {
  const base = typeof server === 'string' ? server : server.url;
  const h = (extra?: Record<string, string>) => ({ ...headers, ...(extra ?? {}) });
  return {
    get: (path: string, extra?: Record<string, string>) => call(base, 'GET', path, undefined, { headers: h(extra) }),
    del: (path: string, extra?: Record<string, string>) => call(base, 'DELETE', path, undefined, { headers: h(extra) }),
    put: (path: string, body: unknown, extra?: Record<string, string>) => call(base, 'PUT', path, body, { headers: h(extra) }),
    post: (path: string, body: unknown, extra?: Record<string, string>) => call(base, 'POST', path, body, { headers: h(extra) }),
    raw: (method: string, path: string, raw: string | Uint8Array, contentType?: string) => call(base, method, path, undefined, { headers: h(), raw, ...(contentType !== undefined ? { contentType } : {}) }),
  };
}

/** Every collection's name, size and log sequence number: any accepted write changes it. */
export async function fingerprint(server: NearestServer, headers: Record<string, string> = {}): Promise<string> {
  const r = await call(server.url, 'GET', '/v1/collections', undefined, { headers });
  if (r.status !== 200) throw new Error(`fingerprint: ${r.status} ${r.text}`);
  return JSON.stringify(r.json.collections.map((c: { name: string; size: number; seq: number }) => [c.name, c.size, c.seq]));
}

/** Little-endian float32 base64 of a vector. */
export function base64(v: number[]): string {
  const f = new Float32Array(v);
  return Buffer.from(f.buffer).toString('base64');
}

/** A request through node:http, which sends the path exactly as given (fetch normalises '..' and '%2e%2e'). */
export function rawHttp(base: string, method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<Reply> {
  const u = new URL(base);
  return new Promise((res, rej) => {
    const req = request({ host: u.hostname, port: Number(u.port), method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        const h = new Headers();
        for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') h.set(k, v);
        res({ status: r.statusCode ?? 0, json, text, headers: h });
      });
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(body);
  });
}
