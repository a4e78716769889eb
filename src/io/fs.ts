// The file-system seam: every file operation of the durable store, its log, compaction, the
// database catalog and recovery goes through this one small interface, so tests can swap in a
// file system that fails an fsync, writes short, runs out of space or "crashes" (forgets whatever
// was not fsynced) at any step — the idea of SQLite's test VFS. `nodeFileSystem` is the real one.
//
// Locks are part of the seam too: a lock is only meaningful relative to the processes that share
// a file system, and a crash in a test file system must release the locks of the "dead" process.
import { NearestError } from '../errors.js';

/** An open file. Writes are complete or throw (short writes are retried inside). */
export interface FileHandle {
  /** Writes all of `bytes` at `position`. */
  write(bytes: Uint8Array, position: number): Promise<void>;
  /** Writes the parts back to back at `position` (one gathered write: no copy into one buffer). */
  writev(parts: readonly Uint8Array[], position: number): Promise<void>;
  /** Reads up to `length` bytes at `position`; returns the bytes read (fewer at the end of the file). */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Flushes the file's data to stable storage (fsync). */
  sync(): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** What a held lock offers. */
export interface FileLock {
  /** Releases the lock if (and only if) it is still this holder's. */
  release(): Promise<void>;
}

/** Largest write (and the sync after it) a blocking handle does on the calling thread. */
const BLOCKING_MAX = 256 * 1024;

/** The operations the store needs, on absolute paths with '/' separators. */
export interface FileSystem {
  /**
   * 'r' read, 'rw' read and write (created if missing, never truncated), 'w' truncate or create,
   * 'wx' create exclusively. Writes are always at explicit positions.
   * With `blocking`, writes and syncs on the handle run on the calling thread (no thread-pool
   * round trip: about half the latency of a small write + fdatasync, the log's group commit) and
   * sync is fdatasync (enough for appends: the size that reaches the data is synced with it).
   */
  open(path: string, flags: 'r' | 'rw' | 'w' | 'wx', options?: { blocking?: boolean }): Promise<FileHandle>;
  readFile(path: string): Promise<Uint8Array>;
  /** Atomically replaces `to` with `from` (same directory). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** Removes a directory and everything in it. */
  rmdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /** 'file', 'dir' or null when nothing is there. */
  kind(path: string): Promise<'file' | 'dir' | null>;
  /** fsyncs a directory, making renames, creations and unlinks in it durable. */
  syncDir(path: string): Promise<void>;
  /**
   * Takes the exclusive lock named `path` (across processes and within this one) or throws
   * LOCKED. A lock left by a process that died is detected and taken over safely.
   */
  lock(path: string): Promise<FileLock>;
  /** Joins path segments. */
  join(...parts: string[]): string;
  /** The directory part of a path. */
  dirname(path: string): string;
  /** An absolute form of a path. */
  resolve(path: string): string;
}

/** The code of a Node.js system error ('ENOENT', ...), or undefined. */
export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as { code?: string }).code : undefined;
}

let node: FileSystem | null = null;

/** The real file system (Node.js). */
export async function nodeFileSystem(): Promise<FileSystem> {
  if (node) return node;
  const fs = await import('node:fs/promises');
  const fsSync = await import('node:fs');
  const path = await import('node:path');
  const os = await import('node:os');
  /** Locks this process holds: path -> token (a lock is per process, so two handles of one process conflict too). */
  const held = new Map<string, string>();

  const wrap = (h: import('node:fs/promises').FileHandle, blocking: boolean): FileHandle => {
    // A blocking handle runs small writes and their sync on the calling thread; a write above
    // BLOCKING_MAX (a bulk batch) and the sync after it go to the thread pool, so megabytes
    // reaching the disk never stall the event loop (a server's other requests, an import's reader).
    let unsynced = 0;
    return {
      write(bytes, position) { return this.writev([bytes], position); },
      async writev(parts, position) {
        let at = position;
        let rest = parts.filter((p) => p.length > 0);
        while (rest.length > 0) {
          const total = rest.reduce((n, p) => n + p.length, 0);
          const here = blocking && total <= BLOCKING_MAX;
          const written = here ? fsSync.writevSync(h.fd, rest as Uint8Array[], at) : (await h.writev(rest as Uint8Array[], at)).bytesWritten;
          unsynced += Math.max(0, written);
          if (written <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
          at += written;
          if (written === total) break;
          // A short write: drop what went out, continue with the rest.
          let skip = written;
          const next: Uint8Array[] = [];
          for (const p of rest) {
            if (skip >= p.length) { skip -= p.length; continue; }
            next.push(skip > 0 ? p.subarray(skip) : p);
            skip = 0;
          }
          rest = next;
        }
      },
      async read(position, length) {
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await h.read(out, done, length - done, position + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === length ? out : out.subarray(0, done);
      },
      async sync() {
        const big = unsynced > BLOCKING_MAX;
        unsynced = 0;
        if (!blocking) await h.sync();
        else if (big) await h.datasync();
        else fsSync.fdatasyncSync(h.fd);
      },
      async size() { return (await h.stat()).size; },
      close: () => h.close(),
    };
  };

  /** The start time of a process (Linux /proc), so a reused pid is not mistaken for the holder. */
  const startTime = async (pid: number): Promise<string | null> => {
    try {
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
    } catch { return null; }
  };
  const alive = (pid: number): boolean => {
    try { process.kill(pid, 0); return true; } catch (e) { return errnoOf(e) === 'EPERM'; }
  };
  const me = { pid: process.pid, start: await startTime(process.pid), host: os.hostname() };

  node = {
    async open(p, flags, options) {
      const c = fsSync.constants;
      const mode = flags === 'rw' ? c.O_RDWR | c.O_CREAT : flags === 'w' ? 'w+' : flags === 'wx' ? 'wx+' : 'r';
      return wrap(await fs.open(p, mode), options?.blocking === true);
    },
    async readFile(p) { return new Uint8Array(await fs.readFile(p)); },
    rename: (a, b) => fs.rename(a, b),
    unlink: (p) => fs.unlink(p),
    async mkdir(p) { await fs.mkdir(p, { recursive: true }); },
    async rmdir(p) { await fs.rm(p, { recursive: true, force: true }); },
    readdir: (p) => fs.readdir(p),
    async kind(p) {
      try { return (await fs.stat(p)).isDirectory() ? 'dir' : 'file'; } catch (e) { if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return null; throw e; }
    },
    async syncDir(p) {
      let h;
      try { h = await fs.open(p, 'r'); } catch (e) { if (process.platform === 'win32') return; throw e; }
      try { await h.sync(); } catch (e) {
        // Some platforms cannot fsync a directory (EINVAL/EISDIR on Windows and a few file systems).
        if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes(errnoOf(e) ?? '')) throw e;
      } finally { await h.close(); }
    },
    async lock(p) {
      if (held.has(p)) throw new NearestError('LOCKED', `${path.dirname(p)} is already open for writing in this process; close the other handle or open with { readOnly: true }`, { path: p, pid: process.pid });
      const token = globalThis.crypto.randomUUID(); // Web Crypto: global in Node ≥ 19 and in browsers
      const body = JSON.stringify({ ...me, token });
      held.set(p, token); // claimed before the first await: a concurrent open in this process is LOCKED
      try {
        // The lock file appears complete or not at all: written and fsynced under a temporary
        // name, then linked into place (link fails if the lock exists). A lock created empty and
        // killed before its pid was written could never be judged.
        const tmp = `${p}.${token}.tmp`;
        for (let attempt = 0; ; attempt++) {
          try {
            const h = await fs.open(tmp, 'w');
            try { await h.writeFile(body); await h.sync(); } finally { await h.close(); }
            try { await fs.link(tmp, p); } finally { await fs.unlink(tmp).catch(() => {}); }
            await node!.syncDir(path.dirname(p));
            break;
          } catch (e) {
            if (errnoOf(e) !== 'EEXIST' || attempt >= 3) throw e;
          }
          // Someone holds (or held) it: is the holder alive? (pid plus its start time, not pid alone)
          const text = await fs.readFile(p, 'utf8').catch(() => null);
          if (text === null) continue; // released meanwhile
          let info: { pid?: number; start?: string | null; host?: string; token?: string } = {};
          try { info = JSON.parse(text); } catch { /* a lock from before this format, or half-written */ }
          const pid = Number(info.pid ?? text.trim());
          const sameHost = info.host === undefined || info.host === me.host;
          let stale: boolean;
          // No pid at all (an empty or damaged file, which this code never writes): nobody can hold it.
          if (!Number.isInteger(pid) || pid <= 0) stale = true;
          else if (!sameHost) stale = false; // cannot check another machine's processes
          else if (!alive(pid)) stale = true;
          else if (pid === process.pid) stale = info.start === me.start ? false : true;
          else stale = info.start !== undefined && info.start !== null && me.start !== null ? (await startTime(pid)) !== info.start : false;
          if (!stale) {
            throw new NearestError('LOCKED', `${path.dirname(p)} is open for writing by process ${pid}${sameHost ? '' : ` on ${info.host}`}; close that writer or open with { readOnly: true }`, { path: p, pid, host: info.host });
          }
          // Take the stale lock over without racing another process doing the same: move it aside
          // under a name of our own, check it is still the one judged stale, then remove it.
          const aside = `${p}.stale-${token}`;
          try { await fs.rename(p, aside); } catch (e) { if (errnoOf(e) === 'ENOENT') continue; throw e; }
          const moved = await fs.readFile(aside, 'utf8').catch(() => null);
          if (moved !== text) {
            // Someone else's fresh lock: put it back (link fails if a third lock appeared).
            await fs.link(aside, p).catch(() => {});
            await fs.unlink(aside).catch(() => {});
            continue;
          }
          await fs.unlink(aside);
        }
      } catch (e) {
        held.delete(p);
        throw e;
      }
      return {
        async release() {
          if (held.get(p) !== token) return;
          held.delete(p);
          const text = await fs.readFile(p, 'utf8').catch(() => null);
          if (text === body) await fs.unlink(p).catch(() => {});
        },
      };
    },
    join: (...parts) => path.join(...parts),
    dirname: (p) => path.dirname(p),
    resolve: (p) => path.resolve(p),
  };
  return node;
}

/** Writes `bytes` to `path` so that a crash leaves either the old file or the new one. */
export async function writeFileAtomic(fs: FileSystem, path: string, bytes: Uint8Array | ((h: FileHandle) => Promise<void>)): Promise<void> {
  const dir = fs.dirname(path);
  const tmp = `${path}.tmp`;
  const h = await fs.open(tmp, 'w');
  try {
    if (typeof bytes === 'function') await bytes(h); else await h.write(bytes, 0);
    await h.sync();
  } catch (e) {
    await h.close().catch(() => {});
    await fs.unlink(tmp).catch(() => {});
    throw e;
  }
  await h.close();
  await fs.rename(tmp, path);
  await fs.syncDir(dir);
}
