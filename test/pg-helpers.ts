// A real PostgreSQL for the cluster tests: Debian's postgresql (15) binaries, a cluster initdb'd into
// a temporary directory as an unprivileged user (the `postgres` system user when the tests run as
// root, as in CI), wal_level = logical, listening on 127.0.0.1 at a random free port. Nothing is
// mocked: the tests talk to it with `pg` and the nodes follow it by logical replication.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The bin directory of the newest installed PostgreSQL, or null. */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestPostgres {
  /** postgres://nearest@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  /** Immediate shutdown: no checkpoint, recovery from WAL on the next start (a crash, for PostgreSQL). */
  crash(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

function ids(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** initdb + start. Throws when PostgreSQL is not installed (the suite decides whether to skip). */
export async function startPostgres(settings: Record<string, string> = {}): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const owner = ids();
  const dir = mkdtempSync(join(tmpdir(), 'nearest-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const run = (cmd: string, args: string[]) => execFileSync(join(bin, cmd), args, { stdio: 'pipe', ...(owner ? { uid: owner.uid, gid: owner.gid } : {}), env: { ...process.env, LC_ALL: 'C' } });
  run('initdb', ['-D', data, '-U', 'nearest', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const conf: Record<string, string> = {
    listen_addresses: "'127.0.0.1'", port: String(port), unix_socket_directories: `'${dir}'`,
    wal_level: 'logical', max_replication_slots: '64', max_wal_senders: '64', max_connections: '200',
    synchronous_commit: 'on', fsync: 'on', wal_sender_timeout: '10s', shared_buffers: '32MB', ...settings,
  };
  const args = ['-D', data, ...Object.entries(conf).flatMap(([k, v]) => ['-c', `${k}=${v.replace(/^'|'$/g, '')}`])];
  let proc: ChildProcess | null = null;
  const url = `postgres://nearest@127.0.0.1:${port}/postgres`;

  async function waitReady(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        execFileSync(join(bin!, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('PostgreSQL did not start within 30 s');
        if (proc && proc.exitCode !== null) throw new Error(`PostgreSQL exited with ${proc.exitCode}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async function start(): Promise<void> {
    proc = spawn(join(bin!, 'postgres'), args, { stdio: 'ignore', ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) });
    await waitReady();
  }

  async function stopWith(signal: NodeJS.Signals): Promise<void> {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await exited;
    proc = null;
  }

  await start();
  return {
    url, port,
    crash: () => stopWith('SIGQUIT'), // immediate shutdown: what a crash leaves, recovered from WAL on start
    start,
    async destroy() {
      await stopWith('SIGINT'); // fast shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
