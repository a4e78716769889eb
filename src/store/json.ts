// Metadata as owned, canonical JSON: what a store keeps is a deep copy of the caller's value made
// of plain JSON values only (null, booleans, finite numbers, strings, arrays, plain objects), deeply
// frozen so that hits and get() can hand it out without copying and nobody can change it in place.
// Anything JSON cannot hold is refused with the path to it, so that what a store holds in memory
// is exactly what it reads back from disk after a restart.
import { invalidArgument } from '../errors.js';

/** A JSON value. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Nesting deeper than this is refused (a stack overflow is not an error message). */
export const MAX_METADATA_DEPTH = 64;

function what(v: unknown): string {
  if (typeof v === 'number') return String(v); // NaN, Infinity, -Infinity
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'bigint') return 'a bigint';
  if (typeof v === 'symbol') return 'a symbol';
  if (v === undefined) return 'undefined';
  const name = (v as object).constructor?.name;
  return name ? `a ${name}` : 'an object with a custom prototype';
}

function copy(v: unknown, parent: string, depth: number, seen: Set<object>, key?: string | number): JsonValue {
  switch (typeof v) {
    case 'string': case 'boolean': return v;
    case 'number': if (Number.isFinite(v)) return v === 0 ? 0 : v;
  }
  const path = key === undefined ? parent : typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
  switch (typeof v) {
    case 'string': case 'boolean': return v;
    case 'number':
      if (!Number.isFinite(v)) throw invalidArgument(`${path}: ${what(v)} is not JSON`, { path, received: String(v) });
      return v === 0 ? 0 : v; // -0 reads back from JSON as 0
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_METADATA_DEPTH) throw invalidArgument(`${path}: metadata nests deeper than ${MAX_METADATA_DEPTH} levels`, { path, max: MAX_METADATA_DEPTH });
      if (seen.has(v)) throw invalidArgument(`${path}: metadata refers to itself (a cycle is not JSON)`, { path });
      seen.add(v);
      let out: JsonValue;
      if (Array.isArray(v)) {
        const a: JsonValue[] = new Array(v.length);
        for (let i = 0; i < v.length; i++) {
          if (!(i in v)) throw invalidArgument(`${path}[${i}]: a hole in an array is not JSON`, { path: `${path}[${i}]` });
          a[i] = copy(v[i], path, depth + 1, seen, i);
        }
        out = Object.freeze(a);
      } else {
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) throw invalidArgument(`${path}: ${what(v)} is not JSON (use a plain object, array, string, number, boolean or null)`, { path, received: what(v) });
        if (Object.getOwnPropertySymbols(v).length > 0) throw invalidArgument(`${path}: symbol keys are not JSON`, { path });
        const o: Record<string, JsonValue> = {};
        const src = v as Record<string, unknown>;
        for (const key of Object.keys(src)) {
          // Paths are built only for an error (building one per key costs more than the copy).
          const value = copy(src[key], path, depth + 1, seen, key);
          // A key named __proto__ must stay an ordinary key, as JSON.parse makes it.
          if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
          else o[key] = value;
        }
        out = Object.freeze(o);
      }
      seen.delete(v);
      return out;
    }
    default:
      throw invalidArgument(`${path}: ${what(v)} is not JSON`, { path, received: what(v) });
  }
}

/**
 * A deep, deeply frozen copy of `value` as plain JSON; `undefined` (no metadata) stays undefined.
 * Throws INVALID_ARGUMENT naming the path of the first value JSON cannot hold
 * (`metadata.tags[2]: NaN is not JSON`).
 */
export function canonicalMetadata(value: unknown, path = 'metadata'): JsonValue | undefined {
  if (value === undefined) return undefined;
  return copy(value, path, 0, new Set());
}

/** Deep-freezes a value parsed from JSON (already plain). */
export function freezeJson<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const k of Object.keys(v)) freezeJson((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}
