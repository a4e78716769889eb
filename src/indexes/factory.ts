// Factory strings as FAISS users write them ('IVF1024,PQ16', 'HNSW32', 'Flat', 'IVF256,SQ8',
// 'IVF256,PQ20,RFlat', 'IVF4096_HNSW32,Flat', 'PQ16'), parsed into typed options, and `describe`
// giving the canonical string back.
import { invalidArgument } from '../errors.js';
import type { Metric } from '../distance/metric.js';
import type { BackendChoice } from '../distance/backend.js';
import { FlatIndex } from './flat.js';
import { HnswIndex } from './hnsw/hnsw-index.js';
import { IvfIndex, type IvfEncoding } from './ivf/ivf-index.js';
import { checkDim, checkOptions, describe as show } from './validate.js';

/** Options shared by every index `createIndex` can make. */
export interface FactoryOptions {
  dim: number;
  metric?: Metric;
  backend?: BackendChoice;
  threads?: number;
  /** Default nprobe of IVF indexes. */
  nprobe?: number;
  /** efConstruction / efSearch of HNSW indexes. */
  efConstruction?: number;
  efSearch?: number;
  seed?: number;
}

/** Any index the factory makes. */
export type AnyIndex = FlatIndex | HnswIndex | IvfIndex;

/** The options that were given (undefined ones dropped), passed on unchanged: the constructors validate them. */
function given<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(o) as (keyof T)[]) if (o[key] !== undefined) out[key] = o[key];
  return out;
}

function bad(spec: string, token: string, position: number, why: string): never {
  throw invalidArgument(`createIndex('${spec}'): bad token '${token}' at position ${position}: ${why}`, { spec, token, position });
}

function positive(spec: string, token: string, position: number, text: string | undefined, what: string): number {
  const v = Number(text);
  if (!text || !/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < 1) bad(spec, token, position, `${what} must be a positive integer`);
  return v;
}

/** Parses an encoding token (Flat, SQ8, PQ<m>[x<nbits>], PQ<m>x4fs); null when it is not one. */
function encodingOf(spec: string, token: string, position: number, dim: number): IvfEncoding | null {
  if (token === 'Flat') return 'flat';
  if (token === 'SQ8') return 'sq8';
  const m = /^PQ(\d+)(?:x(\d+))?(fs)?$/.exec(token);
  if (!m) return null;
  const pqm = positive(spec, token, position, m[1], 'the PQ m');
  const nbits = m[2] === undefined ? 8 : positive(spec, token, position, m[2], 'the PQ nbits');
  if (nbits > 8) bad(spec, token, position, `nbits must be from 1 to 8, got ${nbits}`);
  if (m[3] && nbits !== 4) bad(spec, token, position, `fast-scan ('fs') needs 4-bit codes: PQ${pqm}x4fs`);
  if (dim % pqm !== 0) bad(spec, token, position, `PQ m = ${pqm} must divide dim = ${dim}`);
  return { pq: { m: pqm, nbits, ...(m[3] ? { fastScan: true } : {}) } };
}

/**
 * Makes an index from a FAISS-style factory string. Tokens: `Flat`; `HNSW<m>` (optionally
 * `,Flat`, or `,SQ8` for int8 traversal; `HNSW` alone takes HnswIndex's default m, 16);
 * `IVF<nlist>` or `IVF<nlist>_HNSW<m>` followed by `Flat`, `SQ8` or `PQ<m>[x<nbits>]` and
 * optionally `RFlat`; `PQ<m>` / `SQ8` alone (no inverted file). Errors name the bad token. The
 * options reach the index constructor unchanged (its defaults apply to omitted ones, and it refuses
 * invalid ones, such as nprobe above nlist, with INVALID_ARGUMENT: nothing is clamped).
 */
export function createIndex(spec: string, options: FactoryOptions): AnyIndex {
  const o = checkOptions(options, ['dim', 'metric', 'backend', 'threads', 'nprobe', 'efConstruction', 'efSearch', 'seed'], 'createIndex');
  if (typeof spec !== 'string' || spec.trim() === '') throw invalidArgument(`createIndex: spec must be a non-empty string, got ${show(spec)}`, { spec });
  const dim = checkDim(o.dim, 'createIndex');
  const common = { dim, ...given({ metric: o.metric as Metric | undefined, backend: o.backend as BackendChoice | undefined, threads: o.threads as number | undefined }) };
  const tokens = spec.split(',').map((t) => t.trim());
  const t0 = tokens[0];
  const rest = tokens.slice(1);
  const trailing = (from: number): never => bad(spec, tokens[from], from, 'unexpected token');

  if (t0 === 'Flat') {
    if (rest.length) trailing(1);
    return new FlatIndex(common);
  }
  let mm = /^HNSW(\d*)$/.exec(t0);
  if (mm) {
    const m = mm[1] === '' ? undefined : positive(spec, t0, 0, mm[1], 'the HNSW m');
    let quantization: 'none' | 'int8' = 'none';
    if (rest.length > 0) {
      if (rest[0] === 'SQ8') quantization = 'int8';
      else if (rest[0] !== 'Flat') bad(spec, rest[0], 1, "expected 'Flat' or 'SQ8' after HNSW");
      if (rest.length > 1) trailing(2);
    }
    return new HnswIndex({ ...common, quantization, ...given({ m, efConstruction: o.efConstruction as number | undefined, efSearch: o.efSearch as number | undefined, seed: o.seed as number | undefined }) });
  }
  mm = /^IVF(\d+)(?:_HNSW(\d+))?$/.exec(t0);
  const standalone = encodingOf(spec, t0, 0, dim);
  if (!mm && !(standalone && standalone !== 'flat')) {
    bad(spec, t0, 0, "expected 'Flat', 'HNSW<m>', 'IVF<nlist>[_HNSW<m>]', 'PQ<m>' or 'SQ8'");
  }
  let nlist = 1, encoding: IvfEncoding, next = 1;
  let quantizer: 'flat' | { hnsw: { m: number } } = 'flat';
  if (mm) {
    nlist = positive(spec, t0, 0, mm[1], 'nlist');
    if (mm[2] !== undefined) quantizer = { hnsw: { m: positive(spec, t0, 0, mm[2], 'the HNSW m') } };
    if (rest.length === 0) bad(spec, t0, 0, "IVF needs an encoding after it: 'Flat', 'SQ8' or 'PQ<m>'");
    const enc = encodingOf(spec, rest[0], 1, dim);
    if (!enc) bad(spec, rest[0], 1, "expected 'Flat', 'SQ8', 'PQ<m>[x<nbits>]' or 'PQ<m>x4fs'");
    encoding = enc;
    next = 2;
  } else {
    encoding = standalone!;
  }
  let refine = false;
  if (tokens.length > next) {
    if (tokens[next] !== 'RFlat') bad(spec, tokens[next], next, "expected 'RFlat'");
    refine = true;
    if (tokens.length > next + 1) trailing(next + 1);
  }
  return new IvfIndex({
    ...common, nlist, encoding, refine, quantizer,
    ...given({ nprobe: o.nprobe as number | undefined, seed: o.seed as number | undefined }),
  });
}

/** The canonical factory string of an index (what `createIndex` accepts to rebuild its shape). */
export function describeIndex(index: AnyIndex): string {
  if (index instanceof FlatIndex) return 'Flat';
  if (index instanceof HnswIndex) return `HNSW${index.m}${index.quantization === 'int8' ? ',SQ8' : ''}`;
  const enc = index.encoding === 'flat' ? 'Flat' : index.encoding === 'sq8' ? 'SQ8' : `PQ${index.pqM}${index.pqBits === 8 ? '' : `x${index.pqBits}`}${index.fastScan ? 'fs' : ''}`;
  const head = index.nlist === 1 && index.encoding !== 'flat' && index.quantizerKind === 'flat'
    ? enc
    : `IVF${index.nlist}${index.quantizerKind === 'hnsw' ? `_HNSW${index.hnswM}` : ''},${enc}`;
  return head + (index.refine ? ',RFlat' : '');
}

/**
 * The index options a store takes (VectorStoreOptions.index), as `indexFromFactory` returns them.
 * The same shape as the store's StoreIndexOptions (kept here so that indexes/ imports nothing above it).
 */
export type FactoryIndexOptions =
  | { type: 'flat' }
  | { type: 'hnsw'; m?: number; quantization?: 'none' | 'int8' }
  | { type: 'ivf'; nlist: number; encoding: IvfEncoding; refine?: boolean };

const FACTORY_FORMS = "'Flat', 'HNSW', 'HNSW<m>' (optionally ',Flat' or ',SQ8' for int8 traversal), 'IVF<nlist>,Flat|SQ8|PQ<m>[x<nbits>]|PQ<m>x4fs' (optionally ',RFlat')";

/**
 * Maps an index factory string onto a store's index options: 'Flat', 'HNSW<m>[,Flat|,SQ8]',
 * 'IVF<nlist>,Flat|SQ8|PQ<m>[x<nbits>]|PQ<m>x4fs[,RFlat]' (whitespace ignored). What the server's collection
 * spec and `nearest import --index` accept. Anything else is INVALID_ARGUMENT naming the forms; the
 * numbers are checked by the store when it makes the index.
 */
export function indexFromFactory(spec: string): FactoryIndexOptions {
  const s = String(spec).replace(/\s+/g, '');
  if (s === 'Flat') return { type: 'flat' };
  let m = /^HNSW(\d+)?(?:,(Flat|SQ8))?$/.exec(s);
  if (m) {
    const out: FactoryIndexOptions = { type: 'hnsw' };
    if (m[1] !== undefined) out.m = Number(m[1]);
    if (m[2] === 'SQ8') out.quantization = 'int8';
    return out;
  }
  m = /^IVF(\d+),(Flat|SQ8|PQ(\d+)(?:x(\d+))?(fs)?)(,RFlat)?$/.exec(s);
  if (m) {
    const encoding: IvfEncoding = m[2] === 'Flat' ? 'flat' : m[2] === 'SQ8' ? 'sq8'
      : { pq: { m: Number(m[3]), ...(m[4] !== undefined ? { nbits: Number(m[4]) } : {}), ...(m[5] ? { fastScan: true } : {}) } };
    return { type: 'ivf', nlist: Number(m[1]), encoding, ...(m[6] ? { refine: true } : {}) };
  }
  throw invalidArgument(`index: ${JSON.stringify(spec)} is not an index factory string; accepted: ${FACTORY_FORMS}, or an options object { type: 'flat' | 'hnsw' | 'ivf', ... }`, { received: spec, accepted: FACTORY_FORMS });
}
