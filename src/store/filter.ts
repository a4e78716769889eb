// The metadata filter language of the VectorStore (a MongoDB/Pinecone subset): the Filter type,
// validation of a whole filter document up front, and its compilation to closures, so that a
// search pays one predicate call per candidate and never re-reads the filter.

import { invalidArgument } from '../errors.js';

/**
 * The metadata stored with a record. A record may also carry `undefined`, `null` or any other
 * non-object (or an array) as metadata: for field lookups that behaves exactly like `{}`.
 */
export type Metadata = Record<string, unknown>;

/** A value a filter may compare against: a string, a finite number, a boolean or `null`. */
export type FilterScalar = string | number | boolean | null;

/** An operand of the ordering operators `$gt`, `$gte`, `$lt`, `$lte`. */
export type FilterOrderable = string | number;

/**
 * The operators of a field condition, e.g. `{ price: { $gte: 10, $lt: 20 } }`. Several operators
 * in one object are ANDed, each evaluated on its own against the stored value.
 */
export interface FieldOperators {
  $eq?: FilterScalar;
  $ne?: FilterScalar;
  $gt?: FilterOrderable;
  $gte?: FilterOrderable;
  $lt?: FilterOrderable;
  $lte?: FilterOrderable;
  $in?: readonly FilterScalar[];
  $nin?: readonly FilterScalar[];
  $exists?: boolean;
  /** Negates the operator object it holds: `{ price: { $not: { $gt: 5 } } }`. */
  $not?: FieldOperators;
}

/** The condition on one field: a scalar (shorthand for `{ $eq: scalar }`) or an operator object. */
export type FieldCondition = FilterScalar | FieldOperators;

/** The logical operators of a filter document. */
export interface LogicalOperators {
  /** Matches when every sub-filter matches. Must be a non-empty array. */
  $and?: readonly Filter[];
  /** Matches when at least one sub-filter matches. Must be a non-empty array. */
  $or?: readonly Filter[];
  /** Matches when the sub-filter does not match. */
  $not?: Filter;
}

/**
 * A filter document: field conditions keyed by (dotted) metadata path plus optional logical
 * operators; all keys of one document are ANDed and `{}` matches everything.
 *
 * TypeScript cannot say "a key that does not start with `$`": the `$`-pattern signature keeps
 * operator-looking keys from type-checking as field names (so `{ price: { $gt: true } }` is a type
 * error), and the string signature must also admit the operands of the logical operators.
 * `compileFilter` rejects at run time whatever the type lets through but the language does not
 * define (e.g. `{ $foo: [] }`).
 */
export type Filter = LogicalOperators & {
  [operator: `$${string}`]: Filter | readonly Filter[] | undefined;
  [field: string]: FieldCondition | Filter | readonly Filter[] | undefined;
};

/** A compiled filter: `true` when the metadata of a record matches. */
export type FilterPredicate = (metadata: unknown) => boolean;

/** The operators allowed inside a field condition. */
export const FIELD_OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$not'] as const;

/** The operators allowed as keys of a filter document. */
export const LOGICAL_OPERATORS = ['$and', '$or', '$not'] as const;

/**
 * Deepest nesting of filter documents and `$not` a filter may have. It turns a cyclic filter
 * object (or an absurdly deep one) into an INVALID_ARGUMENT error instead of a stack overflow.
 */
export const MAX_FILTER_DEPTH = 64;

/**
 * Validates a filter document as a whole and compiles it to a predicate over record metadata.
 *
 * Language:
 * - `{ field: value }` is `{ field: { $eq: value } }`; several keys in one document are ANDed;
 *   `{}` matches every record. Logical operators: `$and: [f, ...]`, `$or: [f, ...]` (non-empty
 *   arrays of filter documents) and `$not: f` (a filter document). Field operators: `$eq`, `$ne`,
 *   `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists` and `$not: { ...operators }`.
 * - A field is a dotted path: `'a.b.c'` reads `metadata.a.b.c`. Each step reads an own property
 *   of a non-array object; anything else (a missing key, a primitive, `null`, an array on the way)
 *   makes the field missing. Paths do not traverse arrays, and a value `undefined` is missing.
 *   Segments must be non-empty and must not start with `$`.
 * - Operands are strings, finite numbers, booleans and `null`; `$in`/`$nin` take an array of those;
 *   `$gt`/`$gte`/`$lt`/`$lte` take a finite number or a string; `$exists` takes a boolean.
 *
 * Semantics (v is the stored value at the path, x the operand):
 * - `$eq`: `v === x` (so `0 === -0`; `null` matches only a stored `null`, not a missing field —
 *   use `$exists: false` for that). If v is an array, it matches when any element `=== x`
 *   (MongoDB's rule); elements are not searched recursively and objects never equal a scalar.
 * - `$ne`: exactly `!$eq`, so a missing field matches, and an array matches only if no element
 *   equals x.
 * - `$gt`, `$gte`, `$lt`, `$lte`: only number-with-number or string-with-string (strings compare
 *   by UTF-16 code units, like JavaScript's `<`); other types and missing fields never match, and
 *   a stored NaN never matches. If v is an array, it matches when any element satisfies the
 *   comparison. Two operators in one condition are tested separately, so on an array
 *   `{ $gt: 1, $lt: 5 }` may be satisfied by two different elements (MongoDB's rule too).
 * - `$in`: v (or, for an array, any element of v) `===` some element of the list; `$in: []` never
 *   matches. `$nin` is exactly `!$in`, so a missing field matches and `$nin: []` always matches.
 * - `$exists: true` matches when the path resolves to a value other than `undefined` (`null`
 *   exists); `$exists: false` the opposite.
 * - `$not` negates: a missing field matches `{ $not: { $gt: 5 } }`.
 *
 * Errors: throws NearestError `INVALID_ARGUMENT` before any record is read, for a filter that is
 * not a plain object, an unknown operator (the message names it and lists the allowed ones;
 * `details` holds `{ path, operator, allowed, location }`), a bad operand (NaN, ±Infinity,
 * `undefined`, a function, an object or array where a scalar belongs, a non-array `$in`, a
 * non-boolean `$exists`, a boolean or null ordering operand), an empty `$and`/`$or`, an empty
 * condition object, a condition mixing operators with plain keys, an invalid path, or nesting
 * deeper than MAX_FILTER_DEPTH. `details.location` says where in the filter, e.g.
 * `filter.$and[1].price.$gt`.
 *
 * The filter is read once: mutating it after compilation does not change the predicate.
 * Compilation is O(size of the filter); the predicate costs O(size of the filter) per call, plus
 * the length of stored arrays it inspects (`$in` looks operands up in a Set).
 */
export function compileFilter(filter: unknown): FilterPredicate {
  return compileDocument(filter, 'filter', 0);
}

type Test = (value: unknown) => boolean;

const hasOwn = Object.prototype.hasOwnProperty;
const matchAll: Test = () => true;
const matchNone: Test = () => false;

function compileDocument(doc: unknown, where: string, depth: number): FilterPredicate {
  if (!isPlainObject(doc)) {
    const received = describe(doc);
    fail(`${where} must be a filter document (a plain object such as { field: value }), received ${received}`, {
      location: where,
      expected: 'object',
      received,
    });
  }
  checkDepth(depth, where);
  const predicates: FilterPredicate[] = [];
  for (const key of Object.keys(doc)) {
    const operand = doc[key];
    const at = where + formatKey(key);
    if (key.charCodeAt(0) !== 36 /* '$' */) {
      predicates.push(compileField(key, operand, at, depth));
      continue;
    }
    switch (key) {
      case '$and':
        predicates.push(every(compileList(key, operand, at, depth)));
        break;
      case '$or':
        predicates.push(some(compileList(key, operand, at, depth)));
        break;
      case '$not': {
        const inner = compileDocument(operand, at, depth + 1);
        predicates.push((m) => !inner(m));
        break;
      }
      default: {
        const hint = (FIELD_OPERATORS as readonly string[]).includes(key)
          ? ` ('${key}' is a field operator: write { field: { ${key}: ... } })`
          : '';
        fail(
          `unknown operator '${key}' at ${at}${hint}; allowed in a filter document: ${LOGICAL_OPERATORS.join(', ')}, ` +
            `or a field name that does not start with '$'`,
          { operator: key, allowed: [...LOGICAL_OPERATORS], location: at },
        );
      }
    }
  }
  return every(predicates);
}

function compileList(op: '$and' | '$or', operand: unknown, at: string, depth: number): FilterPredicate[] {
  if (!Array.isArray(operand) || operand.length === 0) {
    const received = Array.isArray(operand) ? 'an empty array' : describe(operand);
    fail(`'${op}' at ${at} expects a non-empty array of filter documents, received ${received}`, {
      operator: op,
      location: at,
      expected: 'non-empty array of filter documents',
      received,
    });
  }
  return operand.map((sub, i) => compileDocument(sub, `${at}[${i}]`, depth + 1));
}

function compileField(path: string, condition: unknown, at: string, depth: number): FilterPredicate {
  const segments = path.split('.');
  for (const segment of segments) {
    if (segment === '' || segment.charCodeAt(0) === 36 /* '$' */) {
      fail(
        `invalid field path '${path}' at ${at}: path segments must be non-empty and must not start with '$'` +
          ` (field operators go inside the condition: { field: { $op: ... } })`,
        { path, location: at, segment },
      );
    }
  }
  const test = compileCondition(path, condition, at, depth);
  if (segments.length === 1) {
    const key = segments[0];
    return (m) => test(isRecord(m) && hasOwn.call(m, key) ? (m as Metadata)[key] : undefined);
  }
  return (m) => {
    let v: unknown = m;
    for (let i = 0; i < segments.length; i++) {
      const key = segments[i];
      if (!isRecord(v) || !hasOwn.call(v, key)) return test(undefined);
      v = (v as Metadata)[key];
    }
    return test(v);
  };
}

function compileCondition(path: string, condition: unknown, at: string, depth: number): Test {
  if (isScalar(condition)) return eqTest(condition);
  if (!isPlainObject(condition)) {
    const received = describe(condition);
    const hint = Array.isArray(condition) ? ` (to match any of several values use { $in: [...] })` : '';
    fail(
      `condition for field '${path}' at ${at} must be a string, finite number, boolean, null or an operator object ` +
        `such as { $gt: 5 }, received ${received}${hint}`,
      { path, location: at, expected: 'scalar or operator object', received },
    );
  }
  checkDepth(depth, at);
  const keys = Object.keys(condition);
  if (keys.length === 0) {
    fail(
      `condition for field '${path}' at ${at} is an empty object; expected a scalar or operators among ${FIELD_OPERATORS.join(', ')}`,
      { path, location: at, allowed: [...FIELD_OPERATORS], received: 'empty object' },
    );
  }
  const tests: Test[] = [];
  for (const op of keys) {
    const operand = condition[op];
    const opAt = at + formatKey(op);
    if (op.charCodeAt(0) !== 36 /* '$' */) {
      fail(
        `condition for field '${path}' at ${at} has the non-operator key '${op}'; a condition is a scalar or an object ` +
          `of operators (${FIELD_OPERATORS.join(', ')}); objects are not compared by value — to reach a nested field ` +
          `use the dotted path '${path}.${op}'`,
        { path, operator: op, allowed: [...FIELD_OPERATORS], location: opAt },
      );
    }
    tests.push(compileOperator(path, op, operand, opAt, depth));
  }
  return every(tests);
}

function compileOperator(path: string, op: string, operand: unknown, at: string, depth: number): Test {
  switch (op) {
    case '$eq':
      return eqTest(requireScalar(path, op, operand, at));
    case '$ne': {
      const eq = eqTest(requireScalar(path, op, operand, at));
      return (v) => !eq(v);
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return orderTest(op, requireOrderable(path, op, operand, at));
    case '$in':
      return inTest(requireScalarList(path, op, operand, at));
    case '$nin': {
      const inList = inTest(requireScalarList(path, op, operand, at));
      return (v) => !inList(v);
    }
    case '$exists':
      if (typeof operand !== 'boolean') {
        const received = describe(operand);
        fail(`'$exists' for field '${path}' at ${at} expects true or false, received ${received}`, {
          path,
          operator: op,
          location: at,
          expected: 'boolean',
          received,
        });
      }
      return operand ? (v) => v !== undefined : (v) => v === undefined;
    case '$not': {
      if (!isPlainObject(operand)) {
        const received = describe(operand);
        fail(
          `'$not' for field '${path}' at ${at} expects an operator object such as { $gt: 5 }, received ${received}` +
            ` (for inequality use { $ne: value })`,
          { path, operator: op, location: at, expected: 'operator object', received },
        );
      }
      const inner = compileCondition(path, operand, at, depth + 1);
      return (v) => !inner(v);
    }
    default:
      return fail(`unknown operator '${op}' for field '${path}' at ${at}; allowed: ${FIELD_OPERATORS.join(', ')}`, {
        path,
        operator: op,
        allowed: [...FIELD_OPERATORS],
        location: at,
      });
  }
}

// --- tests on the stored value (v); each also looks into a stored array, one level deep ---

function eqTest(x: FilterScalar): Test {
  // Array.prototype.includes uses SameValueZero, which agrees with === since x is never NaN.
  return (v) => v === x || (Array.isArray(v) && v.includes(x));
}

function inTest(list: readonly FilterScalar[]): Test {
  if (list.length === 0) return matchNone;
  if (list.length === 1) return eqTest(list[0]);
  // Set membership is SameValueZero: equal to === for non-NaN operands (+0 and -0 included).
  const set = new Set<unknown>(list);
  return (v) => {
    if (set.has(v)) return true;
    if (!Array.isArray(v)) return false;
    for (let i = 0; i < v.length; i++) if (set.has(v[i])) return true;
    return false;
  };
}

function orderTest(op: '$gt' | '$gte' | '$lt' | '$lte', x: FilterOrderable): Test {
  // Numbers and strings both order with the JS relational operators once the types agree;
  // `typeof v === kind` is the "same type only" rule. Casting v to x's type is safe after it.
  const kind = typeof x;
  let scalar: Test;
  switch (op) {
    case '$gt':
      scalar = (v) => typeof v === kind && (v as FilterOrderable) > x;
      break;
    case '$gte':
      scalar = (v) => typeof v === kind && (v as FilterOrderable) >= x;
      break;
    case '$lt':
      scalar = (v) => typeof v === kind && (v as FilterOrderable) < x;
      break;
    case '$lte':
      scalar = (v) => typeof v === kind && (v as FilterOrderable) <= x;
      break;
  }
  return (v) => {
    if (!Array.isArray(v)) return scalar(v);
    for (let i = 0; i < v.length; i++) if (scalar(v[i])) return true;
    return false;
  };
}

function every<T extends Test | FilterPredicate>(tests: T[]): Test {
  switch (tests.length) {
    case 0:
      return matchAll;
    case 1:
      return tests[0];
    case 2: {
      const a = tests[0];
      const b = tests[1];
      return (v) => a(v) && b(v);
    }
    default:
      return (v) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i](v)) return false;
        return true;
      };
  }
}

function some<T extends Test | FilterPredicate>(tests: T[]): Test {
  if (tests.length === 1) return tests[0];
  if (tests.length === 2) {
    const a = tests[0];
    const b = tests[1];
    return (v) => a(v) || b(v);
  }
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (tests[i](v)) return true;
    return false;
  };
}

// --- operand validation ---

function requireScalar(path: string, op: string, operand: unknown, at: string): FilterScalar {
  if (isScalar(operand)) return operand;
  const received = describe(operand);
  const hint = Array.isArray(operand) ? ` (to match any of several values use $in)` : '';
  return fail(
    `'${op}' for field '${path}' at ${at} expects a string, finite number, boolean or null, received ${received}${hint}`,
    { path, operator: op, location: at, expected: 'string | finite number | boolean | null', received },
  );
}

function requireOrderable(path: string, op: string, operand: unknown, at: string): FilterOrderable {
  if (typeof operand === 'string' || (typeof operand === 'number' && Number.isFinite(operand))) return operand;
  const received = describe(operand);
  return fail(`'${op}' for field '${path}' at ${at} expects a finite number or a string, received ${received}`, {
    path,
    operator: op,
    location: at,
    expected: 'finite number | string',
    received,
  });
}

function requireScalarList(path: string, op: string, operand: unknown, at: string): FilterScalar[] {
  if (!Array.isArray(operand)) {
    const received = describe(operand);
    fail(`'${op}' for field '${path}' at ${at} expects an array of strings, finite numbers, booleans or nulls, received ${received}`, {
      path,
      operator: op,
      location: at,
      expected: 'array',
      received,
    });
  }
  const list: FilterScalar[] = [];
  for (let i = 0; i < operand.length; i++) {
    const item: unknown = operand[i];
    if (!isScalar(item)) {
      const received = describe(item);
      fail(
        `'${op}' for field '${path}' at ${at}[${i}] expects a string, finite number, boolean or null, received ${received}`,
        { path, operator: op, location: `${at}[${i}]`, index: i, expected: 'string | finite number | boolean | null', received },
      );
    }
    list.push(item);
  }
  return list;
}

function checkDepth(depth: number, at: string): void {
  if (depth > MAX_FILTER_DEPTH) {
    fail(`filter nests deeper than ${MAX_FILTER_DEPTH} levels at ${at} (is the filter object cyclic?)`, {
      location: at,
      maxDepth: MAX_FILTER_DEPTH,
    });
  }
}

// --- helpers ---

function isScalar(x: unknown): x is FilterScalar {
  return typeof x === 'string' || typeof x === 'boolean' || x === null || (typeof x === 'number' && Number.isFinite(x));
}

/** An object whose own properties metadata paths may read: anything but null, arrays and primitives. */
function isRecord(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Filter documents and operator objects must be plain objects (a Date or Map would read as `{}`). */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  switch (typeof x) {
    case 'number':
      return Number.isNaN(x) ? 'NaN' : Number.isFinite(x) ? `number ${x}` : `${x}`;
    case 'string':
      return `string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x)}`;
    case 'boolean':
      return `boolean ${x}`;
    case 'object': {
      const name = (Object.getPrototypeOf(x) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
      return typeof name === 'string' && name !== 'Object' ? `object (${name})` : 'object';
    }
    default:
      return typeof x;
  }
}

function formatKey(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function fail(message: string, details: Record<string, unknown>): never {
  throw invalidArgument(`Invalid filter: ${message}`, details);
}
