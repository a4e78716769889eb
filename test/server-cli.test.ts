// `nearest serve` as a process (node dist/cli/main.js): it prints exactly `listening on
// http://HOST:PORT` once it answers, exits 0 on SIGTERM and SIGINT after a graceful shutdown, keeps
// its data across restarts, takes flags and environment variables, and refuses bad setups with
// exit code 1 and a message.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, client, spawnServe, tempDir, type ServeProcess } from './server-helpers.js';

afterAll(cleanup);

type Run = Omit<ServeProcess, 'exit'> & { exit: Promise<number | null> };

function serve(args: string[], env: Record<string, string> = {}): Run {
  const p = spawnServe(args, env);
  return { ...p, exit: p.exit.then(([code]) => code) };
}

describe('nearest serve', () => {
  it('prints its line, serves, exits 0 on SIGTERM, and keeps its data for the next start', async () => {
    const data = tempDir();
    const a = serve(['--data', data, '--port', '0', '--log-level', 'silent']);
    const url = await a.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(a.stdout()).toBe(`listening on ${url}\n`);
    const c = client(url);
    expect((await c.get('/readyz')).status).toBe(200);
    expect((await c.put('/v1/collections/cli', { dim: 2 })).status).toBe(201);
    expect((await c.post('/v1/collections/cli/records', { records: [{ id: 'p', vector: [0.5, 0.5], metadata: { from: 'cli' } }] })).status).toBe(200);
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);

    const b = serve(['--data', data, '--port', '0', '--log-level', 'silent']);
    const url2 = await b.url;
    const got = await client(url2).post('/v1/collections/cli/records/get', { ids: ['p'] });
    expect(got.json.records).toEqual([{ id: 'p', metadata: { from: 'cli' }, vector: [0.5, 0.5] }]);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(0);
  });

  it('takes the API key from a flag or NEAREST_API_KEY, and writes JSON logs to stderr', async () => {
    const a = serve(['--data', tempDir(), '--port', '0', '--api-key', 'flag-key']);
    const url = await a.url;
    expect((await client(url).get('/v1/collections')).status).toBe(401);
    expect((await client(url, { 'api-key': 'flag-key' }).get('/v1/collections')).status).toBe(200);
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
    const lines = a.stderr().trim().split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(a.stderr()).not.toContain('flag-key');

    const b = serve(['--port', '0', '--log-level', 'silent'], { NEAREST_API_KEY: 'env-key', NEAREST_DATA: tempDir(), NEAREST_MAX_K: '5' });
    const url2 = await b.url;
    const ok = client(url2, { authorization: 'Bearer env-key' });
    expect((await ok.put('/v1/collections/e', { dim: 2 })).status).toBe(201);
    const k = await ok.post('/v1/collections/e/search', { vector: [1, 0], k: 6 });
    expect([k.status, k.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    b.child.kill('SIGTERM');
    expect(await b.exit).toBe(0);
  });

  it('refuses a non-loopback host without a key (exit code 1), and bad flags (usage: exit code 2)', async () => {
    const a = serve(['--data', tempDir(), '--host', '0.0.0.0', '--port', '0']);
    expect(await a.exit).toBe(1);
    expect(a.stderr()).toMatch(/not a loopback address/);
    expect(a.stdout()).toBe('');
    const b = serve(['--data', tempDir(), '--port', 'eighty']);
    expect(await b.exit).toBe(2);
    expect(b.stderr()).toMatch(/--port/);
  });

  it('a second server on a data directory in use exits 1 with LOCKED', async () => {
    const data = tempDir();
    const a = serve(['--data', data, '--port', '0', '--log-level', 'silent']);
    await a.url;
    const b = serve(['--data', data, '--port', '0', '--log-level', 'silent']);
    expect(await b.exit).toBe(1);
    expect(b.stderr()).toMatch(/LOCKED/);
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
  });
});
