// JSON Lines / NDJSON: one object per line, `{ "id": ..., "vector": [...], ...metadata }`. The id
// field (default "id") is a string or a non-negative integer, or absent (then the record's 0-based
// position among the file's non-blank lines); the vector field (default "vector", else "embedding")
// an array of numbers. The other fields are the metadata — except that a line whose only other field
// is "metadata" takes that field's value as its metadata, which is what `nearest export` writes.
// Blank lines are ignored. The file is read in 1 MiB chunks and split on newlines across them.
import type { JsonValue, RecordId } from '../../index.js';
import { ChunkReader, badRow, lineChunks, malformed, type Block, type Line, type RowPolicy, type VectorSource } from './source.js';

/** Options of the JSONL reader. */
export interface JsonlOptions {
  idField: string;
  /** undefined: "vector", else "embedding". */
  vectorField?: string;
  policy: RowPolicy;
}

interface Parsed { id: RecordId | undefined; vector: ArrayLike<number>; metadata: JsonValue | undefined }

/** One line as a record, or the reason it is not one. */
function parseLine(text: string, o: JsonlOptions, dim: number | undefined): Parsed | string {
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { return `not valid JSON (${(e as Error).message})`; }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const rec = v as Record<string, JsonValue>;
  const vf = o.vectorField ?? (rec.vector !== undefined || rec.embedding === undefined ? 'vector' : 'embedding');
  const vec = rec[vf];
  if (!Array.isArray(vec)) return `field "${vf}" must be an array of numbers${vec === undefined ? ' (it is missing; --vector-field names another field)' : ''}`;
  if (dim !== undefined && vec.length !== dim) return `field "${vf}" has ${vec.length} values, the collection's dim is ${dim}`;
  if (vec.length === 0) return `field "${vf}" is empty`;
  for (let j = 0; j < vec.length; j++) {
    const x = vec[j];
    if (typeof x !== 'number') return `field "${vf}" value ${j} is ${JSON.stringify(x)}, not a number`;
  }
  let id: RecordId | undefined;
  const rawId = rec[o.idField];
  if (rawId !== undefined) {
    if (typeof rawId === 'string' || (typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0)) id = rawId;
    else return `field "${o.idField}" must be a string or a non-negative integer, got ${JSON.stringify(rawId)}`;
  }
  const rest = Object.keys(rec).filter((k) => k !== vf && k !== o.idField);
  let metadata: JsonValue | undefined;
  if (rest.length === 1 && rest[0] === 'metadata') metadata = rec.metadata;
  else if (rest.length > 0) {
    const m: Record<string, JsonValue> = {};
    for (const k of rest) m[k] = rec[k];
    metadata = m;
  }
  return { id, vector: vec as number[], metadata };
}

/** Opens a JSONL file; the dim is that of the first record (read ahead). */
export async function openJsonl(path: string, o: JsonlOptions): Promise<VectorSource> {
  const reader = await ChunkReader.open(path);
  const counter = { consumed: 0 };
  const it = lineChunks(reader, counter);
  // Read ahead to the first record for the dim; the chunks read on the way are replayed.
  const ahead: Line[][] = [];
  const reported = new Set<number>(); // bad lines met while reading ahead (counted once)
  let dim: number | undefined;
  try {
    search: for (;;) {
      const r = await it.next();
      if (r.done) break;
      ahead.push(r.value);
      for (const line of r.value) {
        if (line.text.trim() === '') continue;
        const p = parseLine(line.text, o, undefined);
        if (typeof p !== 'string') { dim = p.vector.length; break search; }
        badRow(o.policy, path, `line ${line.line}`, p);
        reported.add(line.line);
      }
    }
  } catch (e) { await reader.close(); throw e; }
  if (dim === undefined) {
    await reader.close();
    throw malformed(path, 'line 1', 'no record with a vector in the file, so its dim is unknown');
  }
  const d = dim;
  async function* all(): AsyncGenerator<Line[]> { yield* ahead; yield* it; }
  return {
    format: 'jsonl', dim: d, rows: undefined, bytes: reader.size,
    bytesRead: () => counter.consumed,
    close: () => reader.close(),
    async *blocks(batch: number): AsyncGenerator<Block> {
      let position = 0;
      let vectors = new Float32Array(batch * d), ids: RecordId[] = [], metadata: (JsonValue | undefined)[] = [], lineOf: number[] = [], rowIndex: number[] = [];
      const flush = (): Block => {
        const n = ids.length, ln = lineOf;
        const b: Block = { vectors: vectors.subarray(0, n * d), rows: n, rowIndex, ids, metadata, where: (i) => `line ${ln[i]}` };
        vectors = new Float32Array(batch * d); ids = []; metadata = []; lineOf = []; rowIndex = [];
        return b;
      };
      for await (const part of all()) {
        for (const { text, line } of part) {
          if (text.trim() === '') continue;
          const row = position++;
          if (reported.has(line)) continue;
          const p = parseLine(text, o, d);
          if (typeof p === 'string') { badRow(o.policy, path, `line ${line}`, p); continue; }
          const at = ids.length * d;
          for (let j = 0; j < d; j++) vectors[at + j] = p.vector[j];
          ids.push(p.id ?? row); metadata.push(p.metadata); lineOf.push(line); rowIndex.push(row);
          if (ids.length === batch) yield flush();
        }
      }
      if (ids.length > 0) yield flush();
    },
  };
}
