// Index files: FlatIndex, HnswIndex and IvfIndex to and from the binary container (container.ts),
// with every structural invariant checked on load (sizes, neighbour ids, levels, list slots, ids)
// so that a damaged file is CORRUPT_FILE — never a crash, a hang, a huge allocation or silently
// wrong results. Atomic writes: temp file, fsync, rename, fsync of the directory.
import { NearestError, invalidArgument } from '../errors.js';
import type { BackendChoice } from '../distance/backend.js';
import type { Metric } from '../distance/metric.js';
import { FlatIndex } from '../indexes/flat.js';
import { HnswIndex, type HnswState } from '../indexes/hnsw/hnsw-index.js';
import { IvfIndex, type IvfState } from '../indexes/ivf/ivf-index.js';
import { bytesOf, containerParts, corrupt, FileKind, jsonBytes, readContainer, SectionReader, writeContainer, type ContainerHeader, type Section } from './container.js';
import { nodeFileSystem, writeFileAtomic } from './fs.js';
import { checkOptions, describe } from '../indexes/validate.js';

const METRIC_CODES: Metric[] = ['cosine', 'euclidean', 'dot'];
/** nextId is one past the largest id, so 2^53 once an id of 2^53 − 1 is taken (automatic ids are then exhausted). */
const NEXT_ID_MAX = 2 ** 53;
/**
 * Layout of HNSW int8 codes: 1 (PARM quantStep, one step for all codes: never written now, read by
 * re-encoding the rows with QMID), 2 (a step and an origin per vector in QSCL and QORG).
 */
const CODE_LAYOUT = 2;
const metricCode = (m: Metric): number => METRIC_CODES.indexOf(m);

/** Any index that can be saved. */
export type SavedIndex = FlatIndex | HnswIndex | IvfIndex;

/** Options of loading. */
export interface LoadOptions { backend?: BackendChoice; threads?: number }

/** Options of indexToBuffer and saveIndex. */
export interface ToBufferOptions {
  /**
   * Bytes of the application's own kept with the index (an `APPD` section, checksummed like the
   * rest; nearest ignores them when loading): readIndexAppData gives them back.
   */
  appData?: Uint8Array;
}

/** The binary file image of an index (format: docs/format.md); works in browsers too. */
export function indexToBuffer(index: SavedIndex, options: ToBufferOptions = {}): Uint8Array {
  const { header, sections } = imageWith(index, options, 'indexToBuffer');
  return writeContainer(header, sections);
}

/** indexImage with the application data of `options` (checked) as a last section. */
function imageWith(index: SavedIndex, options: ToBufferOptions, where: string): { header: ContainerHeader; sections: Section[] } {
  const o = checkOptions(options, ['appData'], where);
  if (o.appData !== undefined && !(o.appData instanceof Uint8Array)) throw invalidArgument(`${where}: appData must be a Uint8Array`, { option: 'appData' });
  const image = indexImage(index);
  if (o.appData) image.sections.push({ tag: 'APPD', bytes: o.appData });
  return image;
}

/**
 * The application bytes stored with an index file image by indexToBuffer({ appData }), or null
 * when it has none. The whole image is verified first (CORRUPT_FILE as indexFromBuffer).
 */
export function readIndexAppData(buf: Uint8Array): Uint8Array | null {
  return readContainer(buf).sections.get('APPD')?.slice() ?? null;
}

/**
 * An index's file image as a header and sections whose bytes are views of the index's memory (no
 * copies): valid until the index next changes. indexToBuffer copies them into one buffer; a
 * store snapshot streams them (containerParts).
 */
export function indexImage(index: SavedIndex): { header: ContainerHeader; sections: Section[] } {
  const image = (header: ContainerHeader, sections: Section[]) => ({ header, sections });
  if (index instanceof FlatIndex) {
    const s = index.exportState();
    return image({ kind: FileKind.Flat, metric: metricCode(s.metric), elementType: 1, flags: 0, dim: s.dim, count: s.ids.length }, [
      { tag: 'PARM', bytes: jsonBytes({ nextId: s.nextId }) },
      { tag: 'ROWS', bytes: bytesOf(s.rows) },
      { tag: 'IDS ', bytes: bytesOf(s.ids) },
    ]);
  }
  if (index instanceof HnswIndex) {
    const s = index.exportState();
    const sections: Section[] = [
      { tag: 'PARM', bytes: jsonBytes({ m: s.m, efConstruction: s.efConstruction, efSearch: s.efSearch, quantization: s.quantization, randomState: s.randomState, size: s.size, entry: s.entry, maxLevel: s.maxLevel, nextId: s.nextId, ...(s.codes ? { codeLayout: CODE_LAYOUT } : {}) }) },
      { tag: 'ROWS', bytes: bytesOf(s.rows) }, { tag: 'IDS ', bytes: bytesOf(s.ids) },
      { tag: 'GL0 ', bytes: bytesOf(s.level0) }, { tag: 'GLEV', bytes: bytesOf(s.levels) },
      { tag: 'GUPO', bytes: bytesOf(s.upperOff) }, { tag: 'GUP ', bytes: bytesOf(s.upper) }, { tag: 'DELE', bytes: s.deleted },
    ];
    if (s.codes) {
      sections.push({ tag: 'CODE', bytes: bytesOf(s.codes) }, { tag: 'QMID', bytes: bytesOf(s.quantMid!) });
      sections.push({ tag: 'QSCL', bytes: bytesOf(s.quantSteps!) }, { tag: 'QORG', bytes: s.quantOrigins! });
    }
    return image({ kind: FileKind.Hnsw, metric: metricCode(s.metric), elementType: 1, flags: s.codes ? 1 : 0, dim: s.dim, count: index.size }, sections);
  }
  if (index instanceof IvfIndex) {
    const s = index.exportState();
    const sections: Section[] = [
      { tag: 'PARM', bytes: jsonBytes({ ...s.params, nextId: s.nextId }) },
      { tag: 'CENT', bytes: bytesOf(s.centroids) }, { tag: 'LSIZ', bytes: bytesOf(s.listSizes) },
      { tag: 'LCOD', bytes: s.codes }, { tag: 'LSLT', bytes: bytesOf(s.listSlots) },
      { tag: 'IDS ', bytes: bytesOf(s.slotIds) }, { tag: 'LIVE', bytes: s.live },
    ];
    if (s.sqMin) sections.push({ tag: 'SQMN', bytes: bytesOf(s.sqMin) }, { tag: 'SQSC', bytes: bytesOf(s.sqScale!) });
    if (s.pqCentroids) sections.push({ tag: 'PQCB', bytes: bytesOf(s.pqCentroids) });
    if (s.rows) sections.push({ tag: 'ROWS', bytes: bytesOf(s.rows) });
    return image({ kind: FileKind.Ivf, metric: metricCode(s.params.metric), elementType: 1, flags: 0, dim: s.params.dim, count: index.size }, sections);
  }
  throw new NearestError('UNSUPPORTED', 'indexToBuffer: not an index of this package', { received: describe(index) });
}

function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw corrupt(`parameter ${name} is ${JSON.stringify(v)}, expected an integer from ${min} to ${max}`, { parameter: name });
  return v;
}

/** Runs a constructor/rebuild step, turning its typed input errors into CORRUPT_FILE. */
function rebuild<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NearestError && e.code !== 'CORRUPT_FILE') throw corrupt(`${what}: ${e.message}`, { cause: e.code });
    throw e;
  }
}

function checkFinite(a: Float32Array, what: string): void {
  for (let i = 0; i < a.length; i++) if (a[i] - a[i] !== 0) throw corrupt(`${what} holds a non-finite value at ${i}`, { section: what, at: i });
}

function checkIds(ids: Float64Array, live: (slot: number) => boolean): number {
  const seen = new Set<number>();
  for (let s = 0; s < ids.length; s++) {
    if (!live(s)) continue;
    const id = ids[s];
    if (!Number.isSafeInteger(id) || id < 0) throw corrupt(`id of slot ${s} is invalid (${id})`, { slot: s });
    if (seen.has(id)) throw corrupt(`id ${id} appears twice`, { id });
    seen.add(id);
  }
  return seen.size;
}

/** Rebuilds an index from its binary file image. */
export function indexFromBuffer(buf: Uint8Array, options: LoadOptions = {}): SavedIndex {
  const { header, sections } = readContainer(buf);
  const r = new SectionReader(sections);
  const metric = METRIC_CODES[header.metric];
  if (!metric) throw corrupt(`unknown metric code ${header.metric}`, { metric: header.metric });
  if (header.elementType !== 1) throw corrupt(`unknown element type ${header.elementType}`, {});
  const dim = int(header.dim, 'dim', 1, 65536);
  const p = r.json('PARM');
  if (header.kind === FileKind.Flat) {
    const n = header.count;
    const ids = r.f64('IDS ', n);
    const rows = r.f32('ROWS', n * dim);
    return rebuild('flat index', () => FlatIndex.fromState({ dim, metric, rows, ids, nextId: int(p.nextId, 'nextId', 0, NEXT_ID_MAX) }, options));
  }
  if (header.kind === FileKind.Hnsw) return readHnsw(r, p, dim, metric, header.count, header.flags, options);
  if (header.kind === FileKind.Ivf) return readIvf(r, p, dim, metric, header.count, options);
  throw corrupt(`unknown index kind ${header.kind}`, { kind: header.kind });
}

function readHnsw(r: SectionReader, p: Record<string, unknown>, dim: number, metric: Metric, count: number, flags: number, options: LoadOptions): HnswIndex {
  const m = int(p.m, 'm', 2, 256), m0 = 2 * m;
  const size = int(p.size, 'size', 0, 2 ** 31 - 1);
  const quantization = p.quantization === 'int8' ? 'int8' : p.quantization === 'none' ? 'none' : (() => { throw corrupt(`unknown quantization ${JSON.stringify(p.quantization)}`, {}); })();
  if ((flags & 1) !== (quantization === 'int8' ? 1 : 0)) throw corrupt('header flags disagree with the quantization parameter', {});
  const rows = r.f32('ROWS', size * dim);
  checkFinite(rows, 'ROWS');
  const ids = r.f64('IDS ', size);
  const level0 = r.i32('GL0 ', size * (m0 + 1));
  const levels = r.i8('GLEV', size);
  const upperOff = r.i32('GUPO', size);
  const upper = r.i32('GUP ');
  const deleted = r.u8('DELE', size);
  const entry = int(p.entry, 'entry', -1, size - 1);
  const maxLevel = int(p.maxLevel, 'maxLevel', -1, 60);
  if ((entry < 0) !== (size === 0) || (entry >= 0 && levels[entry] !== maxLevel)) throw corrupt('entry point and top level disagree with the graph', { entry, maxLevel });
  const checkList = (arr: Int32Array, at: number, cap: number, what: string): void => {
    const n = arr[at];
    if (n < 0 || n > cap) throw corrupt(`${what}: ${n} neighbours, at most ${cap}`, {});
    for (let i = 1; i <= n; i++) if (arr[at + i] < 0 || arr[at + i] >= size) throw corrupt(`${what}: neighbour id ${arr[at + i]} out of range`, {});
  };
  for (let s = 0; s < size; s++) {
    if (deleted[s] > 1) throw corrupt(`slot ${s}: tombstone flag ${deleted[s]}`, {});
    const L = levels[s];
    if (L < 0 || L > maxLevel) throw corrupt(`slot ${s}: level ${L} outside 0..${maxLevel}`, {});
    checkList(level0, s * (m0 + 1), m0, `slot ${s} level 0`);
    if (L > 0) {
      const off = upperOff[s];
      if (off < 0 || off + L * (m + 1) > upper.length) throw corrupt(`slot ${s}: upper levels out of range`, {});
      for (let l = 1; l <= L; l++) checkList(upper, off + (l - 1) * (m + 1), m, `slot ${s} level ${l}`);
    }
  }
  const live = checkIds(ids, (s) => deleted[s] === 0);
  if (live !== count) throw corrupt(`header says ${count} vectors, the file holds ${live}`, {});
  const codes = quantization === 'int8' ? readCodes(r, p, size, dim, metric) : null;
  const state: HnswState = {
    dim, metric, m, efConstruction: int(p.efConstruction, 'efConstruction', 1, 100000), efSearch: int(p.efSearch, 'efSearch', 1, 100000), quantization,
    randomState: int(p.randomState, 'randomState', 0, 2 ** 32 - 1), size, rows,
    codes: codes?.codes ?? null, quantSteps: codes?.steps ?? null, quantOrigins: codes?.origins ?? null, quantMid: codes?.mid ?? null,
    level0, levels, upperOff, upper, deleted, entry, maxLevel, ids, nextId: int(p.nextId, 'nextId', 0, NEXT_ID_MAX),
  };
  return rebuild('hnsw index', () => HnswIndex.fromState(state, options));
}

/** The int8 sections of an HNSW file; codes null for layout 1 (they are re-encoded from the rows). */
function readCodes(r: SectionReader, p: Record<string, unknown>, size: number, dim: number, metric: Metric): { codes: Int8Array | null; steps: Float32Array | null; origins: Uint8Array | null; mid: Float32Array } {
  const layout = p.codeLayout === undefined ? 1 : p.codeLayout;
  if (layout !== 1 && layout !== CODE_LAYOUT) {
    if (typeof layout === 'number' && Number.isInteger(layout) && layout > CODE_LAYOUT) {
      throw new NearestError('UNSUPPORTED_VERSION', `HNSW int8 code layout ${layout} is newer than this library's (${CODE_LAYOUT}); upgrade nearest`, { layout, supported: CODE_LAYOUT });
    }
    throw corrupt(`unknown HNSW int8 code layout ${JSON.stringify(layout)}`, { layout: String(layout) });
  }
  const mid = r.f32('QMID', dim);
  checkFinite(mid, 'QMID');
  if (metric === 'dot' && mid.some((v) => v !== 0)) throw corrupt('QMID must be zero under dot', {});
  if (layout === 1) return { codes: null, steps: null, origins: null, mid };
  const codes = r.i8('CODE', size * dim), steps = r.f32('QSCL', size), origins = r.u8('QORG', size);
  for (let i = 0; i < codes.length; i++) if (codes[i] < -127) throw corrupt(`CODE: code ${codes[i]} at ${i} is outside −127…127`, { at: i });
  for (let s = 0; s < size; s++) {
    if (!(steps[s] >= 0 && steps[s] < Infinity)) throw corrupt(`QSCL: step of slot ${s} is ${steps[s]}, expected finite and ≥ 0`, { slot: s });
    if (origins[s] > 1 || (metric === 'dot' && origins[s] !== 0)) throw corrupt(`QORG: origin of slot ${s} is ${origins[s]}`, { slot: s });
  }
  return { codes, steps, origins, mid };
}

function readIvf(r: SectionReader, p: Record<string, unknown>, dim: number, metric: Metric, count: number, options: LoadOptions): IvfIndex {
  const { nextId, ...params } = p;
  if (params.dim !== dim || params.metric !== metric) throw corrupt('parameters disagree with the header', {});
  // The constructor validates every parameter; its errors become CORRUPT_FILE.
  const probe = rebuild('ivf parameters', () => new IvfIndex({ ...(params as unknown as IvfState['params']), ...options }));
  const nlist = probe.nlist;
  const codeBytes = probe.encoding === 'flat' ? dim * 4 : probe.encoding === 'sq8' ? dim : probe.pqM;
  const centroids = r.f32('CENT', nlist * dim);
  checkFinite(centroids, 'CENT');
  const listSizes = r.i32('LSIZ', nlist);
  let total = 0;
  for (let l = 0; l < nlist; l++) { if (listSizes[l] < 0) throw corrupt(`list ${l} has a negative size`, {}); total += listSizes[l]; }
  const listSlots = r.i32('LSLT', total);
  const codes = r.u8('LCOD', total * codeBytes);
  const slotIds = r.f64('IDS ');
  const live = r.u8('LIVE', slotIds.length);
  const seen = new Uint8Array(slotIds.length);
  for (let i = 0; i < total; i++) {
    const s = listSlots[i];
    if (s < 0 || s >= slotIds.length || seen[s] || live[s] !== 1) throw corrupt(`list entry ${i} names slot ${s}, which is out of range, repeated or not live`, {});
    seen[s] = 1;
  }
  let liveCount = 0;
  for (let s = 0; s < live.length; s++) { if (live[s] > 1) throw corrupt(`slot ${s}: live flag ${live[s]}`, {}); liveCount += live[s]; }
  if (liveCount !== total || liveCount !== count) throw corrupt(`header says ${count} vectors; the lists hold ${total}, ${liveCount} slots are live`, {});
  checkIds(slotIds, (s) => live[s] === 1);
  const ksub = 1 << probe.pqBits;
  if (probe.encoding === 'pq' && ksub < 256) {
    for (let i = 0; i < codes.length; i++) if (codes[i] >= ksub) throw corrupt(`PQ code ${codes[i]} at byte ${i} is out of range for ${probe.pqBits}-bit codes`, {});
  }
  const state: IvfState = {
    params: params as unknown as IvfState['params'], centroids,
    sqMin: probe.encoding === 'sq8' ? r.f32('SQMN', dim) : null, sqScale: probe.encoding === 'sq8' ? r.f32('SQSC', dim) : null,
    pqCentroids: probe.encoding === 'pq' ? r.f32('PQCB', dim * ksub) : null,
    listSizes, codes, listSlots, slotIds, live, rows: probe.refine ? r.f32('ROWS', slotIds.length * dim) : null,
    nextId: int(nextId, 'nextId', 0, NEXT_ID_MAX),
  };
  for (const a of [state.sqMin, state.sqScale, state.pqCentroids, state.rows]) if (a) checkFinite(a, 'encoding parameters');
  if (state.sqScale) for (const v of state.sqScale) if (!(v > 0)) throw corrupt('SQ8 scale must be positive', {});
  return rebuild('ivf index', () => IvfIndex.fromState(state, options));
}

/** Writes an index to `path` atomically: temp file, fsync, rename, directory fsync (Node.js). */
export async function saveIndex(index: SavedIndex, path: string, options: ToBufferOptions = {}): Promise<void> {
  const { header, sections } = imageWith(index, options, 'saveIndex'); // views: the file is written without a copy
  const fs = await nodeFileSystem();
  await writeFileAtomic(fs, fs.resolve(path), async (h) => {
    let at = 0;
    for (const part of containerParts(header, sections)) { await h.write(part, at); at += part.length; }
  });
}

/** Loads an index written by `saveIndex` (Node.js). */
export async function loadIndex(path: string, options: LoadOptions = {}): Promise<SavedIndex> {
  const fs = await import('node:fs/promises');
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(await fs.readFile(path));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new NearestError(code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_ARGUMENT', `loadIndex: cannot read ${path}: ${(e as Error).message}`, { path, cause: code }, { cause: e });
  }
  return indexFromBuffer(buf, options);
}
