// Atomic file replacement (Node.js): write a temp file in the same directory, fsync it, rename it
// over the target, then fsync the directory so the rename itself is durable.

/** Replaces `path` with `bytes` so that a crash leaves either the old file or the new one. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const fs = await import('node:fs/promises');
  const { dirname, basename, join } = await import('node:path');
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await syncDirectory(dir);
}

/** fsyncs a directory (a no-op where the platform refuses, e.g. Windows). */
export async function syncDirectory(dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  let handle;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Directories cannot be fsynced everywhere; the rename is as durable as the platform allows.
  } finally {
    await handle?.close();
  }
}
