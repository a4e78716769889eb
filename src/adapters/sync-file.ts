// Atomic file writes for the drop-in modules (hnswlib-node's writeIndex / writeIndexSync, faiss-node's
// write): temp file beside the target, fsync, rename. Node.js only.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';

/** Writes bytes to `path` atomically: a reader sees the old file or the whole new one. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const fd = openSync(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at, at);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** writeFileAtomicSync without blocking the event loop. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const file = await open(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.length) at += (await file.write(bytes, at, bytes.length - at, at)).bytesWritten;
    await file.sync();
  } catch (e) {
    await file.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await file.close();
  await rename(tmp, path);
}
