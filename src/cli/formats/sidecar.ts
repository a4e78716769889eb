// Files beside a bare vector file, read in step with it: --ids FILE (one id per line, or a 1-D
// integer .npy) and --metadata FILE.jsonl (one JSON value per line). An id line of digits is a
// number; a line starting with '"' is a JSON string (so ids that look like numbers survive an
// export); any other line is the string itself.
import type { JsonValue, RecordId } from '../../index.js';
import { openNpyIds } from './binary.js';
import { ChunkReader, lineChunks, malformed, type Line } from './source.js';

/** A file read n lines (values) at a time. */
export interface Sidecar<T> {
  /** How many values the file holds. */
  total: number;
  /** The next n values (fewer only at the end). */
  take(n: number): Promise<T[]>;
  close(): Promise<void>;
}

/** Counts the lines of a text file (a last line without a newline counts), streaming. */
async function countLines(path: string): Promise<number> {
  const r = await ChunkReader.open(path);
  try {
    let n = 0, last = 10;
    for (let at = 0; at < r.size; at += 1 << 20) {
      const b = await r.readUpTo(at, 1 << 20);
      for (let i = 0; i < b.length; i++) if (b[i] === 10) n++;
      last = b[b.length - 1];
    }
    return n + (last === 10 ? 0 : 1);
  } finally { await r.close(); }
}

async function textSidecar<T>(path: string, parse: (l: Line) => T): Promise<Sidecar<T>> {
  const total = await countLines(path);
  const reader = await ChunkReader.open(path);
  const it = lineChunks(reader, { consumed: 0 });
  let chunk: Line[] = [], at = 0; // lines read ahead: one await per chunk, not per line
  return {
    total,
    close: () => reader.close(),
    async take(n: number): Promise<T[]> {
      const out: T[] = [];
      while (out.length < n) {
        if (at === chunk.length) {
          const r = await it.next();
          if (r.done) break;
          chunk = r.value; at = 0;
        }
        out.push(parse(chunk[at++]));
      }
      return out;
    },
  };
}

/** Parses one line of an ids file. */
export function parseIdLine(path: string, { text, line }: Line): RecordId {
  const t = text.trim();
  if (t === '') throw malformed(path, `line ${line}`, 'an empty id');
  if (/^\d+$/.test(t)) {
    const v = Number(t);
    if (!Number.isSafeInteger(v)) throw malformed(path, `line ${line}`, `${t} is beyond the largest safe integer id (write it as a JSON string "${t}")`);
    return v;
  }
  if (t.startsWith('"')) {
    try {
      const s = JSON.parse(t);
      if (typeof s === 'string') return s;
    } catch { /* reported below */ }
    throw malformed(path, `line ${line}`, `${t.slice(0, 60)} is not a JSON string`);
  }
  return t;
}

/** Opens an ids file (.npy of integers, or text with one id per line). */
export async function openIds(path: string): Promise<Sidecar<RecordId>> {
  if (path.toLowerCase().endsWith('.npy')) return openNpyIds(path);
  return textSidecar(path, (l) => parseIdLine(path, l));
}

/** Opens a metadata file: one JSON value per line (a blank line: no metadata). */
export function openMetadata(path: string): Promise<Sidecar<JsonValue | undefined>> {
  return textSidecar(path, ({ text, line }) => {
    if (text.trim() === '') return undefined;
    try { return JSON.parse(text) as JsonValue; } catch (e) {
      throw malformed(path, `line ${line}`, `not valid JSON (${(e as Error).message})`);
    }
  });
}
