// Qdrant's filter language translated to ours (the Mongo-style filter of the store): must / should /
// must_not, field conditions with match { value | any | except } and range { gt, gte, lt, lte },
// is_null, nested filters as conditions, and has_id directly in the top-level must (it becomes an
// id restriction beside the metadata filter). Anything else (has_id elsewhere, nested, geo,
// values_count, text match, is_empty, min_should) is refused with INVALID_ARGUMENT naming it —
// never ignored.
//
// Semantics kept from Qdrant: a field condition never matches a point that lacks the key (so
// `except` requires the key, where our $nin alone would match a missing one); a stored array
// matches when any element does (the rule our $eq / $in / ranges follow too); must_not excludes a
// point when any of its conditions matches; should requires at least one when non-empty.
import { NearestError, type RecordId } from '../../index.js';
import { parseId } from './ids.js';

type Doc = Record<string, unknown>;

function bad(message: string, where: string): never {
  throw new NearestError('INVALID_ARGUMENT', `${where}: ${message}`, { location: where });
}

function isObject(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalar(v: unknown, where: string): string | number | boolean {
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
  return bad(`expected a string, an integer or a boolean, got ${JSON.stringify(v) ?? String(v)}`, where);
}

function list(v: unknown, where: string): (string | number | boolean)[] {
  if (!Array.isArray(v)) bad('expected an array of strings or integers', where);
  return (v as unknown[]).map((x, i) => scalar(x, `${where}[${i}]`));
}

function key(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '' || v.split('.').some((s) => s === '' || s.startsWith('$'))) {
    return bad('key must be a payload path such as "city" or "address.city" (no empty segment, none starting with "$"; array paths like "a[]" are not supported)', where);
  }
  if (v.includes('[')) bad('array paths such as "a[].b" are not supported', where);
  return v;
}

function fieldCondition(c: Doc, where: string): Doc {
  const k = key(c.key, `${where}.key`);
  const parts: Doc[] = [];
  let n = 0;
  for (const p of Object.keys(c)) {
    const at = `${where}.${p}`;
    const v = c[p];
    if (p === 'key') continue;
    if (v === null || v === undefined) continue; // clients send absent members as null
    n++;
    if (p === 'match') {
      if (!isObject(v)) bad('match must be an object { value } | { any } | { except }', at);
      const mk = Object.keys(v).filter((x) => v[x] !== undefined);
      if (mk.length !== 1) bad('match takes exactly one of value, any, except', at);
      const m = mk[0]!;
      if (m === 'value') parts.push({ [k]: { $eq: scalar(v.value, `${at}.value`) } });
      else if (m === 'any') parts.push({ [k]: { $in: list(v.any, `${at}.any`) } });
      else if (m === 'except') parts.push({ [k]: { $exists: true } }, { [k]: { $nin: list(v.except, `${at}.except`) } });
      else bad(`match.${m} is not supported (supported: value, any, except)`, at);
    } else if (p === 'range') {
      if (!isObject(v)) bad('range must be an object { gt, gte, lt, lte }', at);
      const ops: Doc = {};
      for (const r of Object.keys(v)) {
        const x = v[r];
        if (x === null || x === undefined) continue;
        if (r !== 'gt' && r !== 'gte' && r !== 'lt' && r !== 'lte') bad(`range.${r} is not supported (supported: gt, gte, lt, lte)`, at);
        if (typeof x !== 'number' || !Number.isFinite(x)) bad(`range.${r} must be a number`, `${at}.${r}`);
        ops[`$${r}`] = x;
      }
      if (Object.keys(ops).length === 0) bad('range needs at least one of gt, gte, lt, lte', at);
      parts.push({ [k]: ops });
    } else {
      bad(`field condition "${p}" is not supported (supported: match, range)`, at);
    }
  }
  if (n !== 1) bad('a field condition takes exactly one of match, range', where);
  return parts.length === 1 ? parts[0]! : { $and: parts };
}

function condition(c: unknown, where: string, depth: number): Doc {
  if (!isObject(c)) return bad('a condition must be an object', where);
  if ('key' in c) return fieldCondition(c, where);
  if ('must' in c || 'should' in c || 'must_not' in c || 'min_should' in c) return translate(c, where, depth + 1);
  if ('has_id' in c) bad('has_id is supported only as a condition directly in the top-level must', where);
  if ('is_null' in c) {
    const v = c.is_null;
    if (!isObject(v)) bad('is_null must be { key }', where);
    return { [key(v.key, `${where}.is_null.key`)]: { $eq: null } };
  }
  const name = Object.keys(c)[0] ?? '{}';
  return bad(`condition "${name}" is not supported by this server (supported: field conditions with match value/any/except or range, is_null, and nested filters with must/should/must_not)`, where);
}

function conditions(v: unknown, where: string, depth: number): Doc[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((c, i) => condition(c, `${where}[${i}]`, depth));
  return [condition(v, where, depth)]; // Qdrant also takes a single condition
}

/** A Qdrant filter in our terms: a metadata filter and/or the ids points must have. */
export interface TranslatedFilter {
  filter?: Doc;
  /** The point must have one of these ids (has_id conditions of the top-level must, intersected). */
  ids?: RecordId[];
}

/**
 * Translates a Qdrant filter: `{}` for no filter (null, undefined or an empty one). Throws
 * INVALID_ARGUMENT for anything it cannot express.
 */
export function translateFilter(f: unknown, where = 'filter'): TranslatedFilter {
  if (f === undefined || f === null) return {};
  let ids: RecordId[] | undefined;
  let rest = f;
  if (isObject(f) && f.must !== undefined && f.must !== null) {
    const must = Array.isArray(f.must) ? f.must : [f.must];
    const others: unknown[] = [];
    must.forEach((c, i) => {
      if (!isObject(c) || !('has_id' in c)) { others.push(c); return; }
      const at = `${where}.must[${i}].has_id`;
      if (Object.keys(c).length !== 1 || !Array.isArray(c.has_id)) bad('expected { has_id: [ids] }', at);
      const list = (c.has_id as unknown[]).map((x, j) => parseId(x, `${at}[${j}]`));
      const set = new Set(list);
      ids = ids === undefined ? list : ids.filter((id) => set.has(id));
    });
    rest = { ...f, must: others };
  }
  const out = translate(rest, where, 0);
  const r: TranslatedFilter = {};
  if (Object.keys(out).length > 0) r.filter = out;
  if (ids !== undefined) r.ids = ids;
  return r;
}

function translate(f: unknown, where: string, depth: number): Doc {
  if (!isObject(f)) return bad('a filter must be an object { must, should, must_not }', where);
  if (depth > 32) bad('filters nest at most 32 levels', where);
  for (const k of Object.keys(f)) {
    if (k === 'min_should' && (f[k] === null || f[k] === undefined)) continue;
    if (k !== 'must' && k !== 'should' && k !== 'must_not') bad(`"${k}" is not supported in a filter (supported: must, should, must_not)`, where);
  }
  const all: Doc[] = [];
  const must = conditions(f.must, `${where}.must`, depth);
  all.push(...must);
  const should = conditions(f.should, `${where}.should`, depth);
  if (should.length === 1) all.push(should[0]!);
  else if (should.length > 1) all.push({ $or: should });
  const mustNot = conditions(f.must_not, `${where}.must_not`, depth);
  if (mustNot.length === 1) all.push({ $not: mustNot[0]! });
  else if (mustNot.length > 1) all.push({ $not: { $or: mustNot } });
  if (all.length === 0) return {};
  return all.length === 1 ? all[0]! : { $and: all };
}
