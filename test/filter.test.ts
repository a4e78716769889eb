// Tests of the metadata filter language (src/store/filter.ts): unit tests per operator, validation
// errors, and property tests against an independently written reference interpreter and validator.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NearestError } from '../src/errors.ts';
import { compileFilter, FIELD_OPERATORS, LOGICAL_OPERATORS, MAX_FILTER_DEPTH } from '../src/store/filter.ts';

const matches = (filter: unknown, metadata: unknown): boolean => compileFilter(filter)(metadata);

/** Runs `fn`, expects a NearestError INVALID_ARGUMENT, and returns it for further checks. */
function invalid(fn: () => unknown): NearestError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NearestError);
    expect((e as NearestError).code).toBe('INVALID_ARGUMENT');
    return e as NearestError;
  }
  throw new Error('expected an INVALID_ARGUMENT error, nothing was thrown');
}

// ------------------------------------------------------------------------------------------------
// Reference interpreter and validator: written independently of the compiler, as plainly as possible,
// from the semantics in the JSDoc of compileFilter.
// ------------------------------------------------------------------------------------------------

const MISSING = Symbol('missing');
const REF_FIELD_OPS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$not'];

function refLookup(metadata: unknown, path: string): unknown {
  let current: unknown = metadata;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return MISSING;
    if (!Object.keys(current).includes(segment)) return MISSING;
    current = (current as Record<string, unknown>)[segment];
  }
  return current === undefined ? MISSING : current;
}

/** The values an operator looks at: the elements of a stored array, else the stored value itself. */
function refCandidates(stored: unknown): unknown[] {
  if (stored === MISSING) return [];
  return Array.isArray(stored) ? stored : [stored];
}

/** -1, 0, 1, or null when the two values are not comparable (different types, NaN). */
function refCompare(a: unknown, b: number | string): number | null {
  if (typeof b === 'number') {
    if (typeof a !== 'number' || Number.isNaN(a)) return null;
    return a === b ? 0 : a < b ? -1 : 1;
  }
  if (typeof a !== 'string') return null;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return Math.sign(d);
  }
  return Math.sign(a.length - b.length);
}

function refEquals(stored: unknown, x: unknown): boolean {
  return refCandidates(stored).some((c) => c === x);
}

function refOperator(op: string, x: unknown, stored: unknown): boolean {
  const comparisons = (): (number | null)[] => refCandidates(stored).map((c) => refCompare(c, x as number | string));
  switch (op) {
    case '$eq':
      return refEquals(stored, x);
    case '$ne':
      return !refEquals(stored, x);
    case '$gt':
      return comparisons().some((c) => c !== null && c > 0);
    case '$gte':
      return comparisons().some((c) => c !== null && c >= 0);
    case '$lt':
      return comparisons().some((c) => c !== null && c < 0);
    case '$lte':
      return comparisons().some((c) => c !== null && c <= 0);
    case '$in':
      return (x as unknown[]).some((y) => refEquals(stored, y));
    case '$nin':
      return !(x as unknown[]).some((y) => refEquals(stored, y));
    case '$exists':
      return x === (stored !== MISSING);
    case '$not':
      return !refCondition(x, stored);
    default:
      throw new Error(`reference: unexpected operator ${op}`);
  }
}

function refCondition(condition: unknown, stored: unknown): boolean {
  if (condition === null || typeof condition !== 'object') return refEquals(stored, condition);
  return Object.entries(condition).every(([op, x]) => refOperator(op, x, stored));
}

/** Reference semantics; assumes a valid filter. */
function refEvaluate(filter: Record<string, unknown>, metadata: unknown): boolean {
  return Object.entries(filter).every(([key, value]) => {
    if (key === '$and') return (value as Record<string, unknown>[]).every((f) => refEvaluate(f, metadata));
    if (key === '$or') return (value as Record<string, unknown>[]).some((f) => refEvaluate(f, metadata));
    if (key === '$not') return !refEvaluate(value as Record<string, unknown>, metadata);
    return refCondition(value, refLookup(metadata, key));
  });
}

function refIsDocument(x: unknown): x is Record<string, unknown> {
  return Object.prototype.toString.call(x) === '[object Object]' && [Object.prototype, null].includes(Object.getPrototypeOf(x));
}

function refIsScalar(x: unknown): boolean {
  return x === null || ['string', 'boolean'].includes(typeof x) || (typeof x === 'number' && Number.isFinite(x));
}

function refValidOperator(op: string, x: unknown): boolean {
  if (['$eq', '$ne'].includes(op)) return refIsScalar(x);
  if (['$gt', '$gte', '$lt', '$lte'].includes(op)) return typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
  if (['$in', '$nin'].includes(op)) return Array.isArray(x) && x.every(refIsScalar);
  if (op === '$exists') return x === true || x === false;
  if (op === '$not') return refIsDocument(x) && refValidOperators(x);
  return false;
}

function refValidOperators(condition: Record<string, unknown>): boolean {
  const entries = Object.entries(condition);
  return entries.length > 0 && entries.every(([op, x]) => REF_FIELD_OPS.includes(op) && refValidOperator(op, x));
}

/** Reference validator (nesting depth is not modelled: generated filters stay shallow). */
function refValid(filter: unknown): boolean {
  if (!refIsDocument(filter)) return false;
  return Object.entries(filter).every(([key, value]) => {
    if (key === '$and' || key === '$or') return Array.isArray(value) && value.length > 0 && value.every(refValid);
    if (key === '$not') return refValid(value);
    if (key.startsWith('$')) return false;
    if (key.split('.').some((s) => s === '' || s.startsWith('$'))) return false;
    if (refIsScalar(value)) return true;
    return refIsDocument(value) && refValidOperators(value);
  });
}

// ------------------------------------------------------------------------------------------------
// Unit tests
// ------------------------------------------------------------------------------------------------

describe('compileFilter: basics', () => {
  it('an empty filter matches everything, including non-object metadata', () => {
    const p = compileFilter({});
    for (const m of [{}, { a: 1 }, null, undefined, 5, 'text', [1, 2]]) expect(p(m)).toBe(true);
  });

  it('non-object metadata behaves as {}', () => {
    for (const m of [null, undefined, 5, 'a', true, [1], ['a']]) {
      expect(matches({ a: 1 }, m)).toBe(false);
      expect(matches({ 0: 1 }, m)).toBe(false);
      expect(matches({ a: { $exists: false } }, m)).toBe(true);
      expect(matches({ a: { $ne: 1 } }, m)).toBe(true);
      expect(matches({ a: { $nin: [1] } }, m)).toBe(true);
    }
  });

  it('several keys in one document are ANDed', () => {
    const p = compileFilter({ a: 1, b: 'x', c: { $gt: 0 } });
    expect(p({ a: 1, b: 'x', c: 5 })).toBe(true);
    expect(p({ a: 1, b: 'x', c: 0 })).toBe(false);
    expect(p({ a: 2, b: 'x', c: 5 })).toBe(false);
    expect(p({ a: 1, c: 5 })).toBe(false);
  });

  it('reads the filter once: mutating it after compilation changes nothing', () => {
    const filter = { a: { $in: [1, 2] as unknown[] }, b: 'x' } as Record<string, unknown>;
    const p = compileFilter(filter);
    (filter.a as { $in: unknown[] }).$in.push(3);
    filter.b = 'y';
    filter.c = { $exists: true };
    expect(p({ a: 3, b: 'y' })).toBe(false);
    expect(p({ a: 2, b: 'x' })).toBe(true);
  });

  it('does not modify the filter', () => {
    const filter = { $or: [{ a: { $in: [1, 2] } }, { b: { $not: { $gt: 1 } } }], 'c.d': null };
    const copy = structuredClone(filter);
    compileFilter(filter);
    expect(filter).toEqual(copy);
  });
});

describe('$eq and implicit equality', () => {
  it('compares scalars strictly', () => {
    expect(matches({ a: 'x' }, { a: 'x' })).toBe(true);
    expect(matches({ a: 'x' }, { a: 'X' })).toBe(false);
    expect(matches({ a: 1 }, { a: 1 })).toBe(true);
    expect(matches({ a: 1 }, { a: '1' })).toBe(false);
    expect(matches({ a: 1 }, { a: true })).toBe(false);
    expect(matches({ a: 0 }, { a: false })).toBe(false);
    expect(matches({ a: 0 }, { a: -0 })).toBe(true);
    expect(matches({ a: '' }, { a: 0 })).toBe(false);
    expect(matches({ a: true }, { a: true })).toBe(true);
    expect(matches({ a: false }, { a: true })).toBe(false);
    expect(matches({ a: { $eq: 2.5 } }, { a: 2.5 })).toBe(true);
    expect(matches({ a: { $eq: 2.5 } }, { a: 2.25 })).toBe(false);
  });

  it('null matches a stored null only, not a missing field or undefined', () => {
    expect(matches({ a: null }, { a: null })).toBe(true);
    expect(matches({ a: null }, {})).toBe(false);
    expect(matches({ a: null }, { a: undefined })).toBe(false);
    expect(matches({ a: { $eq: null } }, { a: 0 })).toBe(false);
    expect(matches({ a: null }, { a: [1, null] })).toBe(true);
  });

  it('a missing field never equals anything', () => {
    expect(matches({ a: 1 }, { b: 1 })).toBe(false);
    expect(matches({ a: { $eq: false } }, {})).toBe(false);
  });

  it('a stored array matches when any element is equal (one level deep)', () => {
    expect(matches({ tags: 'b' }, { tags: ['a', 'b'] })).toBe(true);
    expect(matches({ tags: 'c' }, { tags: ['a', 'b'] })).toBe(false);
    expect(matches({ tags: 'a' }, { tags: [] })).toBe(false);
    expect(matches({ tags: 'a' }, { tags: [['a']] })).toBe(false);
    expect(matches({ tags: 1 }, { tags: ['1', true] })).toBe(false);
  });

  it('objects never equal a scalar', () => {
    expect(matches({ a: 1 }, { a: { b: 1 } })).toBe(false);
    expect(matches({ a: 1 }, { a: [{ b: 1 }] })).toBe(false);
  });
});

describe('$ne', () => {
  it('is the negation of $eq', () => {
    expect(matches({ a: { $ne: 1 } }, { a: 2 })).toBe(true);
    expect(matches({ a: { $ne: 1 } }, { a: 1 })).toBe(false);
    expect(matches({ a: { $ne: 1 } }, { a: '1' })).toBe(true);
    expect(matches({ a: { $ne: null } }, { a: null })).toBe(false);
    expect(matches({ a: { $ne: null } }, {})).toBe(true);
  });

  it('matches a missing field', () => {
    expect(matches({ a: { $ne: 'x' } }, {})).toBe(true);
    expect(matches({ 'a.b': { $ne: 'x' } }, { a: 5 })).toBe(true);
  });

  it('on an array, matches only when no element is equal', () => {
    expect(matches({ tags: { $ne: 'a' } }, { tags: ['a', 'b'] })).toBe(false);
    expect(matches({ tags: { $ne: 'c' } }, { tags: ['a', 'b'] })).toBe(true);
    expect(matches({ tags: { $ne: 'c' } }, { tags: [] })).toBe(true);
  });
});

describe('$gt, $gte, $lt, $lte', () => {
  it('compare numbers', () => {
    const m = { n: 5 };
    expect(matches({ n: { $gt: 4 } }, m)).toBe(true);
    expect(matches({ n: { $gt: 5 } }, m)).toBe(false);
    expect(matches({ n: { $gte: 5 } }, m)).toBe(true);
    expect(matches({ n: { $gte: 5.0001 } }, m)).toBe(false);
    expect(matches({ n: { $lt: 6 } }, m)).toBe(true);
    expect(matches({ n: { $lt: 5 } }, m)).toBe(false);
    expect(matches({ n: { $lte: 5 } }, m)).toBe(true);
    expect(matches({ n: { $lte: -5 } }, m)).toBe(false);
    expect(matches({ n: { $gte: 0 } }, { n: -0 })).toBe(true);
    expect(matches({ n: { $gt: 1e300 } }, { n: Infinity })).toBe(true);
  });

  it('compare strings by UTF-16 code units', () => {
    expect(matches({ s: { $gt: 'apple' } }, { s: 'banana' })).toBe(true);
    expect(matches({ s: { $lt: 'a' } }, { s: 'B' })).toBe(true); // 'B' (66) < 'a' (97)
    expect(matches({ s: { $lt: '9' } }, { s: '10' })).toBe(true); // lexicographic, not numeric
    expect(matches({ s: { $gte: 'ab' } }, { s: 'ab' })).toBe(true);
    expect(matches({ s: { $gt: 'ab' } }, { s: 'abc' })).toBe(true);
    expect(matches({ s: { $lt: '' } }, { s: '' })).toBe(false);
    expect(matches({ s: { $gte: '' } }, { s: '' })).toBe(true);
  });

  it('never match across types, on missing fields or on a stored NaN', () => {
    expect(matches({ n: { $gt: 1 } }, { n: '5' })).toBe(false);
    expect(matches({ n: { $lt: '5' } }, { n: 1 })).toBe(false);
    expect(matches({ n: { $gte: 0 } }, { n: true })).toBe(false);
    expect(matches({ n: { $gte: 0 } }, { n: null })).toBe(false);
    expect(matches({ n: { $lte: 0 } }, { n: {} })).toBe(false);
    for (const op of ['$gt', '$gte', '$lt', '$lte']) {
      expect(matches({ n: { [op]: 0 } }, {})).toBe(false);
      expect(matches({ n: { [op]: 0 } }, { n: Number.NaN })).toBe(false);
      expect(matches({ n: { [op]: '' } }, { n: undefined })).toBe(false);
    }
  });

  it('on an array, match when any element satisfies; each operator is tested on its own', () => {
    expect(matches({ n: { $gt: 5 } }, { n: [1, 7] })).toBe(true);
    expect(matches({ n: { $gt: 5 } }, { n: [1, '7'] })).toBe(false);
    expect(matches({ n: { $gt: 5 } }, { n: [] })).toBe(false);
    // [1, 9]: 9 > 2 and 1 < 5, though no single element is in (2, 5) — MongoDB does the same.
    expect(matches({ n: { $gt: 2, $lt: 5 } }, { n: [1, 9] })).toBe(true);
    expect(matches({ n: { $gt: 2, $lt: 5 } }, { n: 9 })).toBe(false);
    expect(matches({ n: { $gt: 2, $lt: 5 } }, { n: 3 })).toBe(true);
  });
});

describe('$in and $nin', () => {
  it('$in matches a stored value in the list', () => {
    expect(matches({ a: { $in: [1, 'x', null] } }, { a: 'x' })).toBe(true);
    expect(matches({ a: { $in: [1, 'x', null] } }, { a: null })).toBe(true);
    expect(matches({ a: { $in: [1, 'x', null] } }, { a: '1' })).toBe(false);
    expect(matches({ a: { $in: [1, 'x', null] } }, {})).toBe(false);
    expect(matches({ a: { $in: [0] } }, { a: -0 })).toBe(true);
    expect(matches({ a: { $in: [-0, 7] } }, { a: 0 })).toBe(true);
    expect(matches({ a: { $in: [true] } }, { a: 1 })).toBe(false);
  });

  it('$in matches when any element of a stored array is in the list', () => {
    expect(matches({ tags: { $in: ['c', 'b'] } }, { tags: ['a', 'b'] })).toBe(true);
    expect(matches({ tags: { $in: ['c', 'd'] } }, { tags: ['a', 'b'] })).toBe(false);
    expect(matches({ tags: { $in: ['c'] } }, { tags: ['a', 'c'] })).toBe(true);
    expect(matches({ tags: { $in: ['a', 'b'] } }, { tags: [] })).toBe(false);
  });

  it('$in: [] matches nothing, $nin: [] matches everything', () => {
    for (const m of [{}, { a: 1 }, { a: [] }, null]) {
      expect(matches({ a: { $in: [] } }, m)).toBe(false);
      expect(matches({ a: { $nin: [] } }, m)).toBe(true);
    }
  });

  it('$nin is the negation of $in (a missing field matches)', () => {
    expect(matches({ a: { $nin: [1, 2] } }, { a: 3 })).toBe(true);
    expect(matches({ a: { $nin: [1, 2] } }, { a: 2 })).toBe(false);
    expect(matches({ a: { $nin: [1, 2] } }, {})).toBe(true);
    expect(matches({ tags: { $nin: ['a', 'z'] } }, { tags: ['a', 'b'] })).toBe(false);
    expect(matches({ tags: { $nin: ['y', 'z'] } }, { tags: ['a', 'b'] })).toBe(true);
  });

  it('large lists behave the same', () => {
    const list = Array.from({ length: 1000 }, (_, i) => i * 2);
    expect(matches({ a: { $in: list } }, { a: 998 })).toBe(true);
    expect(matches({ a: { $in: list } }, { a: 999 })).toBe(false);
    expect(matches({ a: { $in: list } }, { a: [1, 3, 1998] })).toBe(true);
    expect(matches({ a: { $nin: list } }, { a: 999 })).toBe(true);
  });
});

describe('$exists', () => {
  it('distinguishes present (null included) from missing (undefined included)', () => {
    expect(matches({ a: { $exists: true } }, { a: 0 })).toBe(true);
    expect(matches({ a: { $exists: true } }, { a: null })).toBe(true);
    expect(matches({ a: { $exists: true } }, { a: [] })).toBe(true);
    expect(matches({ a: { $exists: true } }, { a: undefined })).toBe(false);
    expect(matches({ a: { $exists: true } }, {})).toBe(false);
    expect(matches({ a: { $exists: false } }, {})).toBe(true);
    expect(matches({ a: { $exists: false } }, { a: false })).toBe(false);
    expect(matches({ a: { $exists: false } }, { a: undefined })).toBe(true);
  });

  it('works on nested paths', () => {
    expect(matches({ 'a.b': { $exists: true } }, { a: { b: 1 } })).toBe(true);
    expect(matches({ 'a.b': { $exists: true } }, { a: { c: 1 } })).toBe(false);
    expect(matches({ 'a.b': { $exists: false } }, { a: 1 })).toBe(true);
  });
});

describe('dotted paths', () => {
  it('reach into nested objects', () => {
    const m = { a: { b: { c: 'deep', n: 3 } }, top: 1 };
    expect(matches({ 'a.b.c': 'deep' }, m)).toBe(true);
    expect(matches({ 'a.b.n': { $gte: 3 } }, m)).toBe(true);
    expect(matches({ 'a.b.c': 'shallow' }, m)).toBe(false);
    expect(matches({ 'a.b.x': { $exists: false } }, m)).toBe(true);
    expect(matches({ 'a.b': 'deep' }, m)).toBe(false);
  });

  it('treat a missing, primitive or null intermediate as a missing field', () => {
    expect(matches({ 'a.b': 1 }, {})).toBe(false);
    expect(matches({ 'a.b': 1 }, { a: null })).toBe(false);
    expect(matches({ 'a.b': 1 }, { a: 1 })).toBe(false);
    expect(matches({ 'a.length': 1 }, { a: 'x' })).toBe(false);
    expect(matches({ 'a.b': { $ne: 1 } }, { a: 'x' })).toBe(true);
  });

  it('do not traverse arrays', () => {
    expect(matches({ 'a.b': 1 }, { a: [{ b: 1 }] })).toBe(false);
    expect(matches({ 'a.0': 1 }, { a: [1] })).toBe(false);
    expect(matches({ 'a.length': 1 }, { a: [1] })).toBe(false);
  });

  it('read own properties only', () => {
    expect(matches({ constructor: { $exists: true } }, {})).toBe(false);
    expect(matches({ toString: { $exists: true } }, {})).toBe(false);
    expect(matches({ 'a.constructor': { $exists: true } }, { a: {} })).toBe(false);
    const filter = JSON.parse('{"__proto__": {"$exists": true}}') as unknown;
    expect(matches(filter, {})).toBe(false);
    expect(matches(filter, JSON.parse('{"__proto__": 1}'))).toBe(true);
    expect(matches({ x: 1 }, Object.create({ x: 1 }))).toBe(false);
  });

  it('read objects with a null prototype', () => {
    const m = Object.assign(Object.create(null) as Record<string, unknown>, { a: { b: 2 } });
    expect(matches({ 'a.b': 2 }, m)).toBe(true);
  });
});

describe('logical operators', () => {
  it('$and matches when all sub-filters match', () => {
    const p = compileFilter({ $and: [{ a: { $gt: 1 } }, { a: { $lt: 5 } }, { b: 'x' }] });
    expect(p({ a: 3, b: 'x' })).toBe(true);
    expect(p({ a: 5, b: 'x' })).toBe(false);
    expect(p({ a: 3 })).toBe(false);
    expect(matches({ $and: [{}] }, null)).toBe(true);
  });

  it('$or matches when any sub-filter matches', () => {
    const p = compileFilter({ $or: [{ a: 1 }, { b: { $exists: true } }, { c: { $in: ['x', 'y'] } }] });
    expect(p({ a: 1 })).toBe(true);
    expect(p({ b: null })).toBe(true);
    expect(p({ c: 'y' })).toBe(true);
    expect(p({ a: 2, c: 'z' })).toBe(false);
    expect(p({})).toBe(false);
    expect(matches({ $or: [{ a: 1 }, {}] }, {})).toBe(true);
  });

  it('$not at document level negates a sub-filter', () => {
    const p = compileFilter({ $not: { a: 1, b: 2 } });
    expect(p({ a: 1, b: 2 })).toBe(false);
    expect(p({ a: 1, b: 3 })).toBe(true);
    expect(p({})).toBe(true);
    expect(matches({ $not: {} }, { a: 1 })).toBe(false);
    expect(matches({ $not: { $not: { a: 1 } } }, { a: 1 })).toBe(true);
  });

  it('$not inside a field condition negates the operators (a missing field matches)', () => {
    const p = compileFilter({ price: { $not: { $gt: 5 } } });
    expect(p({ price: 3 })).toBe(true);
    expect(p({ price: 7 })).toBe(false);
    expect(p({})).toBe(true);
    expect(p({ price: 'expensive' })).toBe(true);
    expect(matches({ a: { $not: { $gt: 1, $lt: 5 } } }, { a: 3 })).toBe(false);
    expect(matches({ a: { $not: { $gt: 1, $lt: 5 } } }, { a: 6 })).toBe(true);
    expect(matches({ a: { $not: { $not: { $eq: 1 } } } }, { a: 1 })).toBe(true);
    expect(matches({ a: { $gte: 0, $not: { $eq: 3 } } }, { a: 3 })).toBe(false);
    expect(matches({ a: { $gte: 0, $not: { $eq: 3 } } }, { a: 4 })).toBe(true);
  });

  it('combine with fields and with each other', () => {
    const p = compileFilter({
      genre: { $in: ['sf', 'fantasy'] },
      $or: [{ year: { $gte: 2000 } }, { classic: true }],
      $not: { 'author.name': 'Anonymous' },
      $and: [{ rating: { $gt: 3 } }, { $or: [{ lang: 'en' }, { lang: { $exists: false } }] }],
    });
    const base = { genre: 'sf', year: 2010, author: { name: 'Le Guin' }, rating: 4.5, lang: 'en' };
    expect(p(base)).toBe(true);
    expect(p({ ...base, genre: 'romance' })).toBe(false);
    expect(p({ ...base, year: 1960 })).toBe(false);
    expect(p({ ...base, year: 1960, classic: true })).toBe(true);
    expect(p({ ...base, author: { name: 'Anonymous' } })).toBe(false);
    expect(p({ ...base, rating: 3 })).toBe(false);
    expect(p({ ...base, lang: 'fr' })).toBe(false);
    expect(p({ ...base, lang: undefined })).toBe(true);
  });

  it('accepts nesting up to MAX_FILTER_DEPTH', () => {
    let f: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < MAX_FILTER_DEPTH - 1; i++) f = { $not: f };
    expect(matches(f, { a: 1 })).toBe((MAX_FILTER_DEPTH - 1) % 2 === 0);
  });
});

// ------------------------------------------------------------------------------------------------
// Validation
// ------------------------------------------------------------------------------------------------

describe('validation', () => {
  it.each([
    ['null', null],
    ['an array', [{ a: 1 }]],
    ['a number', 5],
    ['a string', 'a = 1'],
    ['a boolean', true],
    ['undefined', undefined],
    ['a Date', new Date()],
    ['a Map', new Map([['a', 1]])],
    ['a function', () => true],
  ])('rejects %s as a filter', (_name, filter) => {
    const e = invalid(() => compileFilter(filter));
    expect(e.message).toMatch(/filter document/);
    expect(e.details.location).toBe('filter');
  });

  it('names an unknown field operator and lists the allowed ones', () => {
    const e = invalid(() => compileFilter({ 'a.b': { $foo: 1 } }));
    expect(e.message).toContain("'$foo'");
    expect(e.message).toContain("'a.b'");
    for (const op of FIELD_OPERATORS) expect(e.message).toContain(op);
    expect(e.details).toMatchObject({ path: 'a.b', operator: '$foo', allowed: [...FIELD_OPERATORS] });
    expect(e.details.location).toBe('filter["a.b"].$foo');
  });

  it.each(['$regex', '$and', '$or', '$size', '$elemMatch', '$contains'])('rejects %s as a field operator', (op) => {
    const e = invalid(() => compileFilter({ a: { [op]: [{ b: 1 }] } }));
    expect(e.message).toContain(`'${op}'`);
    expect(e.details).toMatchObject({ path: 'a', operator: op });
  });

  it('names an unknown logical operator and lists the allowed ones', () => {
    const e = invalid(() => compileFilter({ $nor: [{ a: 1 }] }));
    expect(e.message).toContain("'$nor'");
    for (const op of LOGICAL_OPERATORS) expect(e.message).toContain(op);
    expect(e.details).toMatchObject({ operator: '$nor', allowed: [...LOGICAL_OPERATORS] });
  });

  it('explains a field operator used at document level', () => {
    const e = invalid(() => compileFilter({ $not: { $gt: 5 } }));
    expect(e.message).toContain("'$gt' is a field operator");
    expect(e.details).toMatchObject({ operator: '$gt', location: 'filter.$not.$gt' });
  });

  it('validates the whole filter up front, including branches a record would never reach', () => {
    const e = invalid(() => compileFilter({ $or: [{}, { a: { $exists: true } }, { b: { $gt: Number.NaN } }] }));
    expect(e.message).toContain("'$gt'");
    expect(e.details).toMatchObject({ path: 'b', operator: '$gt', location: 'filter.$or[2].b.$gt', received: 'NaN' });
  });

  it.each([
    ['$and', []],
    ['$or', []],
    ['$and', { a: 1 }],
    ['$or', 'a'],
    ['$and', null],
  ])('rejects %s with operand %j', (op, operand) => {
    const e = invalid(() => compileFilter({ [op]: operand }));
    expect(e.message).toContain(`'${op}'`);
    expect(e.message).toContain('non-empty array');
    expect(e.details.operator).toBe(op);
  });

  it.each([
    ['$and', [1]],
    ['$or', [{ a: 1 }, [{ b: 1 }]]],
    ['$and', [null]],
    ['$not', [{ a: 1 }]],
    ['$not', 'a'],
    ['$not', null],
  ])('rejects %s with a sub-filter that is not a document: %j', (op, operand) => {
    const e = invalid(() => compileFilter({ [op]: operand }));
    expect(e.message).toContain(op);
    expect(e.message).toContain('filter document');
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['undefined', undefined],
    ['a function', () => 1],
    ['an object', { b: 1 }],
    ['an array', [1, 2]],
    ['a bigint', 1n],
    ['a symbol', Symbol('s')],
    ['a Date', new Date(0)],
  ])('rejects %s as an $eq / $ne operand', (_name, operand) => {
    for (const op of ['$eq', '$ne']) {
      const e = invalid(() => compileFilter({ a: { [op]: operand } }));
      expect(e.message).toContain(`'${op}'`);
      expect(e.details).toMatchObject({ path: 'a', operator: op });
    }
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['undefined', undefined],
    ['a function', () => 1],
    ['an array', ['a', 'b']],
    ['a bigint', 2n],
    ['a Date', new Date(0)],
  ])('rejects %s as an implicit equality value', (_name, value) => {
    const e = invalid(() => compileFilter({ a: value }));
    expect(e.message).toContain("field 'a'");
    expect(e.details.path).toBe('a');
  });

  it('suggests $in for an array equality value', () => {
    expect(invalid(() => compileFilter({ a: [1, 2] })).message).toContain('$in');
    expect(invalid(() => compileFilter({ a: { $eq: [1, 2] } })).message).toContain('$in');
  });

  it.each([true, false, null, Number.NaN, Number.POSITIVE_INFINITY, [1], { $eq: 1 }, undefined])(
    'rejects %s as an ordering operand',
    (operand) => {
      for (const op of ['$gt', '$gte', '$lt', '$lte']) {
        const e = invalid(() => compileFilter({ n: { [op]: operand } }));
        expect(e.message).toContain(`'${op}'`);
        expect(e.message).toContain('finite number or a string');
        expect(e.details).toMatchObject({ path: 'n', operator: op });
      }
    },
  );

  it('rejects a non-array $in / $nin and bad list elements', () => {
    for (const op of ['$in', '$nin']) {
      for (const operand of [1, 'a', null, { 0: 'a' }, undefined]) {
        const e = invalid(() => compileFilter({ a: { [op]: operand } }));
        expect(e.message).toContain(`'${op}'`);
        expect(e.details).toMatchObject({ path: 'a', operator: op, expected: 'array' });
      }
      for (const bad of [Number.NaN, Number.NEGATIVE_INFINITY, [1], { b: 1 }, undefined]) {
        const e = invalid(() => compileFilter({ a: { [op]: [1, 'x', bad] } }));
        expect(e.message).toContain(`'${op}'`);
        expect(e.details).toMatchObject({ path: 'a', operator: op, index: 2, location: `filter.a.${op}[2]` });
      }
    }
  });

  it('rejects a non-boolean $exists', () => {
    for (const operand of [1, 0, 'true', null, undefined, []]) {
      const e = invalid(() => compileFilter({ a: { $exists: operand } }));
      expect(e.message).toContain("'$exists'");
      expect(e.details).toMatchObject({ path: 'a', operator: '$exists', expected: 'boolean' });
    }
  });

  it('rejects a field $not whose operand is not an operator object', () => {
    for (const operand of [5, 'x', null, [{ $gt: 1 }], { b: 1 }, {}]) {
      const e = invalid(() => compileFilter({ a: { $not: operand } }));
      expect(e.message).toMatch(/\$not|'b'|empty/);
      expect(e.details.path).toBe('a');
    }
  });

  it('rejects an empty condition and a condition mixing operators with plain keys', () => {
    const empty = invalid(() => compileFilter({ a: {} }));
    expect(empty.message).toContain('empty object');
    expect(empty.details.path).toBe('a');
    const mixed = invalid(() => compileFilter({ a: { $gt: 1, b: 2 } }));
    expect(mixed.message).toContain("'b'");
    expect(mixed.message).toContain("'a.b'");
    expect(mixed.details).toMatchObject({ path: 'a', operator: 'b' });
    invalid(() => compileFilter({ a: { b: 1 } }));
  });

  it.each(['', 'a..b', '.a', 'a.', 'a.$b', 'a.$gt'])('rejects the field path %j', (path) => {
    const e = invalid(() => compileFilter({ [path]: 1 }));
    expect(e.message).toContain(`'${path}'`);
    expect(e.details.path).toBe(path);
  });

  it('rejects a cyclic filter instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.$not = cyclic;
    const e = invalid(() => compileFilter(cyclic));
    expect(e.message).toContain('cyclic');
    const cyclicAnd: Record<string, unknown> = {};
    cyclicAnd.$and = [cyclicAnd];
    invalid(() => compileFilter(cyclicAnd));
    const cyclicCondition: Record<string, unknown> = {};
    cyclicCondition.$not = cyclicCondition;
    invalid(() => compileFilter({ a: cyclicCondition }));
  });

  it('rejects nesting deeper than MAX_FILTER_DEPTH', () => {
    let f: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < MAX_FILTER_DEPTH + 1; i++) f = { $and: [f] };
    const e = invalid(() => compileFilter(f));
    expect(e.details.maxDepth).toBe(MAX_FILTER_DEPTH);
  });
});

// ------------------------------------------------------------------------------------------------
// Property tests against the reference
// ------------------------------------------------------------------------------------------------

const FIELDS = ['a', 'b', 'c', 'a.b', 'a.c', 'b.a', 'a.b.c', 'a.0', 'b.length'];
const SCALARS: unknown[] = [0, -0, 1, 2, -1.5, 1e9, '', 'x', 'y', 'X', 'xy', '10', '9', true, false, null];
const ORDERABLES: (number | string)[] = [0, -0, 1, 2, -1.5, 1e9, '', 'x', 'y', 'X', 'xy', '10', '9'];

const scalarArb = fc.oneof(fc.constantFrom(...SCALARS), fc.integer({ min: -3, max: 3 }));
const orderableArb = fc.oneof(fc.constantFrom(...ORDERABLES), fc.integer({ min: -3, max: 3 }));

/** One operator with a valid operand. */
function operatorArb(depth: number): fc.Arbitrary<[string, unknown]> {
  const leaves: fc.Arbitrary<[string, unknown]>[] = [
    fc.tuple(fc.constantFrom('$eq', '$ne'), scalarArb),
    fc.tuple(fc.constantFrom('$gt', '$gte', '$lt', '$lte'), orderableArb),
    fc.tuple(fc.constantFrom('$in', '$nin'), fc.array(scalarArb, { maxLength: 4 })),
    fc.tuple(fc.constant('$exists'), fc.boolean()),
  ];
  if (depth > 0) leaves.push(fc.tuple(fc.constant('$not'), operatorsArb(depth - 1)));
  return fc.oneof(...leaves);
}

/** A non-empty operator object, e.g. { $gt: 1, $nin: ['x'] }. */
function operatorsArb(depth: number): fc.Arbitrary<Record<string, unknown>> {
  return fc.array(operatorArb(depth), { minLength: 1, maxLength: 3 }).map((ops) => Object.fromEntries(ops));
}

const conditionArb = fc.oneof(scalarArb, operatorsArb(2));

const { filter: filterArb } = fc.letrec<{
  filter: Record<string, unknown>;
  fields: Record<string, unknown>;
  logical: Record<string, unknown>;
}>((tie) => ({
  filter: fc.oneof(
    { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
    tie('fields'),
    tie('logical'),
    fc.tuple(tie('fields'), tie('logical')).map(([f, l]) => ({ ...f, ...l })),
  ),
  fields: fc.array(fc.tuple(fc.constantFrom(...FIELDS), conditionArb), { maxLength: 3 }).map((e) => Object.fromEntries(e)),
  logical: fc
    .record(
      {
        $and: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }),
        $or: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }),
        $not: tie('filter'),
      },
      { requiredKeys: [] },
    )
    .filter((r) => Object.keys(r).length > 0),
}));

/** Stored values: the same scalars as the filters use (so that they collide), NaN, arrays, objects. */
const { value: storedValueArb } = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3, withCrossShrink: true },
    scalarArb,
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, undefined, 'z'),
    fc.array(fc.oneof(scalarArb, fc.constant(Number.NaN)), { maxLength: 4 }),
    fc.array(tie('value'), { maxLength: 3 }),
    tie('object'),
  ),
  object: fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('value'), { maxKeys: 3 }),
}));

const metadataArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'c'), storedValueArb, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, 0, 'a', [], [{ a: 1 }]) },
);

describe('properties', () => {
  it('the compiled predicate agrees with the reference interpreter', () => {
    let trues = 0;
    let falses = 0;
    fc.assert(
      fc.property(filterArb, fc.array(metadataArb, { minLength: 1, maxLength: 6 }), (filter, records) => {
        expect(refValid(filter)).toBe(true);
        const predicate = compileFilter(filter);
        for (const m of records) {
          const expected = refEvaluate(filter, m);
          if (expected) trues++;
          else falses++;
          if (predicate(m) !== expected) return false;
        }
        return true;
      }),
      { numRuns: 1000 },
    );
    // Guard against a vacuous property: both outcomes must be common.
    const total = trues + falses;
    expect(trues / total).toBeGreaterThan(0.1);
    expect(falses / total).toBeGreaterThan(0.1);
  });

  it('single field conditions agree with the reference on values built to collide', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), conditionArb, metadataArb, (field, condition, m) => {
        const filter = { [field]: condition };
        return compileFilter(filter)(m) === refEvaluate(filter, m);
      }),
      { numRuns: 2000 },
    );
  });

  /** Every scalar an operator object compares against (so that stored values can be drawn from it). */
  function operandValues(ops: Record<string, unknown>): unknown[] {
    return Object.values(ops).flatMap((x) =>
      Array.isArray(x) ? x : x !== null && typeof x === 'object' ? operandValues(x as Record<string, unknown>) : [x],
    );
  }

  it('every operator agrees with the reference on stored values drawn from its own operands', () => {
    const caseArb = fc.tuple(fc.constantFrom('a', 'a.b'), operatorsArb(2)).chain(([field, ops]) => {
      const pool = operandValues(ops);
      const near = pool.length > 0 ? fc.oneof(fc.constantFrom(...pool), scalarArb) : scalarArb;
      const stored = fc.oneof(
        { weight: 4, arbitrary: near },
        { weight: 3, arbitrary: fc.array(near, { maxLength: 3 }) },
        { weight: 1, arbitrary: fc.constantFrom(Number.NaN, undefined, 'absent') },
      );
      return fc.tuple(fc.constant(field), fc.constant(ops), stored);
    });
    fc.assert(
      fc.property(caseArb, ([field, ops, stored]) => {
        const leaf = stored === 'absent' ? {} : { [field === 'a' ? 'a' : 'b']: stored };
        const m = field === 'a' ? leaf : { a: leaf };
        const filter = { [field]: ops };
        return compileFilter(filter)(m) === refEvaluate(filter, m);
      }),
      { numRuns: 3000 },
    );
  });

  it('logical laws hold: $not negates, $and/$or/implicit AND agree with boolean algebra', () => {
    fc.assert(
      fc.property(filterArb, filterArb, metadataArb, (f, g, m) => {
        const pf = compileFilter(f)(m);
        const pg = compileFilter(g)(m);
        return (
          compileFilter({ $not: f })(m) === !pf &&
          compileFilter({ $and: [f, g] })(m) === (pf && pg) &&
          compileFilter({ $or: [f, g] })(m) === (pf || pg) &&
          compileFilter({ $not: { $or: [f, g] } })(m) === compileFilter({ $and: [{ $not: f }, { $not: g }] })(m)
        );
      }),
      { numRuns: 500 },
    );
  });

  it('$ne/$nin/field $not are the exact negations of $eq/$in/the operators', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FIELDS),
        scalarArb,
        fc.array(scalarArb, { maxLength: 4 }),
        operatorsArb(1),
        metadataArb,
        (field, x, list, ops, m) =>
          matches({ [field]: { $ne: x } }, m) === !matches({ [field]: { $eq: x } }, m) &&
          matches({ [field]: { $nin: list } }, m) === !matches({ [field]: { $in: list } }, m) &&
          matches({ [field]: { $not: ops } }, m) === !matches({ [field]: ops }, m),
      ),
      { numRuns: 500 },
    );
  });

  // Filter-like garbage: valid pieces mixed with unknown operators, bad operands and bad paths.
  const junkKeyArb = fc.constantFrom('a', 'b', 'a.b', '', 'a..b', '.a', 'a.$b', '$and', '$or', '$not', '$eq', '$gt', '$in', '$exists', '$foo', 'x');
  const junkLeafArb = fc.oneof(
    scalarArb,
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, undefined, 1n, () => 1, new Date(0), [] as unknown[]),
  );
  const { junk: junkArb } = fc.letrec<{ junk: unknown; doc: Record<string, unknown> }>((tie) => ({
    junk: fc.oneof(
      { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
      junkLeafArb,
      fc.array(tie('junk'), { maxLength: 3 }),
      tie('doc'),
      fc.constantFrom(...[...FIELDS, '$gt', '$in']).chain((k) => conditionArb.map((c) => ({ [k]: c }))),
      // A field with a condition that is valid but for one operand (or not).
      fc
        .tuple(
          fc.constantFrom('a', 'a.b'),
          fc.constantFrom(...FIELD_OPERATORS, '$foo'),
          fc.oneof(junkLeafArb, fc.array(junkLeafArb, { maxLength: 3 }), operatorsArb(1)),
          fc.boolean(),
        )
        .map(([field, op, operand, implicit]) => ({ [field]: implicit ? operand : { [op]: operand } })),
    ),
    doc: fc.array(fc.tuple(junkKeyArb, tie('junk')), { maxLength: 3 }).map((e) => Object.fromEntries(e)),
  }));

  it('compileFilter accepts exactly the filters the reference validator accepts', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(junkArb, metadataArb, (filter, m) => {
        if (refValid(filter)) {
          accepted++;
          return compileFilter(filter)(m) === refEvaluate(filter as Record<string, unknown>, m);
        }
        rejected++;
        try {
          compileFilter(filter);
        } catch (e) {
          return e instanceof NearestError && e.code === 'INVALID_ARGUMENT' && e.message.startsWith('Invalid filter:');
        }
        return false;
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});
