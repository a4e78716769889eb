// Chroma's filters in our terms. `where` (metadata) becomes a filter of the store's language over
// the stored layout of records.ts; `where_document` becomes a predicate over a record's document,
// evaluated here (our filter language has no substring operator).
//
// Chroma's rules, as its server applies them: a where document has exactly one key — `$and` / `$or`
// with an array of where documents (an empty `$and` matches everything, an empty `$or` nothing), or
// a metadata key (any other string, `$`-prefixed ones included) with a string, number or boolean
// (equality) or an object of exactly one operator: `$eq` `$ne` (string, number, boolean), `$gt`
// `$gte` `$lt` `$lte` (a number), `$in` `$nin` (a non-empty array of one type). `$ne` and `$nin`
// match records that lack the key. Anything else is Chroma's 400 "Invalid where clause".
//
// where_document: `$contains` / `$not_contains` (a string; a record without a document never
// contains, so it matches `$not_contains`), `$and` / `$or` of where_document arrays. `$regex` and
// `$not_regex` are refused: JavaScript regular expressions backtrack, so a hostile pattern could
// hold the event loop (Chroma 1.0.0 itself panics on them); `$matches` is not Chroma 1.0's either.
import { NearestError } from '../../index.js';
import { SEQ_KEY, encodeKey } from './records.js';

type Doc = Record<string, unknown>;

function isObject(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalidWhere(reason: string, what = 'where'): never {
  throw new NearestError('INVALID_ARGUMENT', `Invalid ${what === 'where' ? 'where' : 'where document'} clause: ${reason}`, { clause: what });
}

const MATCH_NONE: Doc = { [SEQ_KEY]: { $in: [] } };

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function kindOf(v: unknown): string {
  return typeof v;
}

function operator(key: string, op: string, operand: unknown): Doc {
  const path = encodeKey(key);
  switch (op) {
    case '$eq': case '$ne':
      if (!isScalar(operand)) invalidWhere(`${op} of "${key}" takes a string, a number or a boolean`);
      return { [path]: { [op]: operand } };
    case '$gt': case '$gte': case '$lt': case '$lte':
      if (typeof operand !== 'number' || !Number.isFinite(operand)) invalidWhere(`${op} of "${key}" takes a number`);
      return { [path]: { [op]: operand } };
    case '$in': case '$nin': {
      if (!Array.isArray(operand) || operand.length === 0) invalidWhere(`${op} of "${key}" takes a non-empty array`);
      if (!operand.every(isScalar) || new Set(operand.map(kindOf)).size !== 1) invalidWhere(`${op} of "${key}" takes values of one type (strings, numbers or booleans)`);
      return { [path]: { [op]: operand } };
    }
    default:
      return invalidWhere(`unknown operator ${JSON.stringify(op)} for "${key}" (allowed: $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin)`);
  }
}

/** The one key of a clause and its value (both languages take exactly one key a level). */
function soleMember(w: unknown, depth: number, what: string): [string, unknown] {
  if (depth > 32) invalidWhere('nests more than 32 levels', what);
  if (!isObject(w)) return invalidWhere('expected an object', what);
  const keys = Object.keys(w);
  if (keys.length !== 1) invalidWhere(`expected exactly one key, got ${keys.length}`, what);
  return [keys[0]!, w[keys[0]!]];
}

function translate(w: unknown, depth: number): Doc {
  const [key, v] = soleMember(w, depth, 'where');
  if (key === '$and' || key === '$or') {
    if (!Array.isArray(v)) invalidWhere(`${key} takes an array of where clauses`);
    const parts = v.map((x) => translate(x, depth + 1));
    if (parts.length === 0) return key === '$and' ? {} : MATCH_NONE;
    return parts.length === 1 ? parts[0]! : { [key]: parts };
  }
  if (isScalar(v)) return { [encodeKey(key)]: { $eq: v } };
  if (!isObject(v)) return invalidWhere(`the value of "${key}" must be a string, a number, a boolean or an operator object`);
  const ops = Object.keys(v);
  if (ops.length !== 1) invalidWhere(`the operator object of "${key}" must hold exactly one operator`);
  return operator(key, ops[0]!, v[ops[0]!]);
}

/** A Chroma `where` as a filter of ours; undefined for none (absent or null). Throws INVALID_ARGUMENT. */
export function translateWhere(where: unknown): Doc | undefined {
  if (where === undefined || where === null) return undefined;
  const f = translate(where, 0);
  return Object.keys(f).length === 0 ? undefined : f;
}

/** A predicate over a record's document (null: it has none). */
export type DocumentPredicate = (document: string | null) => boolean;

function compileDocument(w: unknown, depth: number): DocumentPredicate {
  const bad = (reason: string): never => invalidWhere(reason, 'where_document');
  const [key, v] = soleMember(w, depth, 'where_document');
  switch (key) {
    case '$contains': case '$not_contains': {
      if (typeof v !== 'string') bad(`${key} takes a string`);
      const s = v as string;
      return key === '$contains' ? (d) => d !== null && d.includes(s) : (d) => d === null || !d.includes(s);
    }
    case '$and': case '$or': {
      if (!Array.isArray(v)) bad(`${key} takes an array of where_document clauses`);
      const parts = (v as unknown[]).map((x) => compileDocument(x, depth + 1));
      return key === '$and' ? (d) => parts.every((p) => p(d)) : (d) => parts.some((p) => p(d));
    }
    case '$regex': case '$not_regex':
      return bad(`${key} is not supported by this server (supported: $contains, $not_contains, $and, $or)`);
    default:
      return bad(`unknown operator ${JSON.stringify(key)} (supported: $contains, $not_contains, $and, $or)`);
  }
}

/** A Chroma `where_document` as a predicate; undefined for none (absent or null). Throws INVALID_ARGUMENT. */
export function compileWhereDocument(w: unknown): DocumentPredicate | undefined {
  if (w === undefined || w === null) return undefined;
  return compileDocument(w, 0);
}
