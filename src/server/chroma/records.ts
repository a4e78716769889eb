// How a Chroma record lives in one of our records: the vector is the embedding, and the metadata
// (a JSON object) holds the user's metadata keys beside three reserved keys that nothing on the
// Chroma wire ever sees as metadata:
//
//   "chroma:document"  the document (a string), absent when the record has none
//   "chroma:uri"       the uri (a string), absent when the record has none
//   "chroma:seq"       the record's insertion number: Chroma returns `get` in insertion order, and
//                      an upsert or update keeps a record's place (a delete and add moves it last)
//
// User keys are stored as they are, except those our filter paths cannot address or that would
// collide with the reserved ones: a key that is empty, contains '.' or '%', starts with '$' or with
// 'chroma:' is stored as '%' followed by the key with '%', '.', '$' and ':' percent-encoded. Stored
// keys that start with '%' are exactly the encoded ones, so the mapping is one-to-one, and where
// filters address stored keys through the same encoding.
import type { JsonValue } from '../../index.js';

/** A metadata value on the Chroma wire. */
export type Scalar = string | number | boolean;

/** User metadata of a record (null: none). */
export type ChromaMetadata = Record<string, Scalar>;

export const DOCUMENT_KEY = 'chroma:document';
export const URI_KEY = 'chroma:uri';
export const SEQ_KEY = 'chroma:seq';

const SAFE_KEY = /^(?!\$|chroma:)[^.%]+$/;

/** The stored spelling of a user metadata key (see the file comment). */
export function encodeKey(key: string): string {
  if (SAFE_KEY.test(key)) return key;
  return `%${key.replace(/[%.$:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/** The user's key of a stored key (the inverse of encodeKey). */
export function decodeKey(stored: string): string {
  if (!stored.startsWith('%')) return stored;
  return stored.slice(1).replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** A record's Chroma parts, read back from its stored metadata. */
export interface ChromaParts {
  metadata: ChromaMetadata | null;
  document: string | null;
  uri: string | null;
  seq: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The stored metadata of a record's parts. */
export function toStored(p: ChromaParts): JsonValue {
  const out: Record<string, JsonValue> = {};
  if (p.metadata) for (const [k, v] of Object.entries(p.metadata)) out[encodeKey(k)] = v;
  if (p.document !== null) out[DOCUMENT_KEY] = p.document;
  if (p.uri !== null) out[URI_KEY] = p.uri;
  out[SEQ_KEY] = p.seq;
  return out;
}

/** A record's parts from its stored metadata (records written by other APIs read as metadata only, seq 0). */
export function fromStored(m: JsonValue | undefined): ChromaParts {
  const parts: ChromaParts = { metadata: null, document: null, uri: null, seq: 0 };
  if (!isObject(m)) return parts;
  let meta: ChromaMetadata | null = null;
  for (const [k, v] of Object.entries(m)) {
    if (k === DOCUMENT_KEY) { if (typeof v === 'string') parts.document = v; continue; }
    if (k === URI_KEY) { if (typeof v === 'string') parts.uri = v; continue; }
    if (k === SEQ_KEY) { if (typeof v === 'number') parts.seq = v; continue; }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue; // not a Chroma value
    (meta ??= {})[decodeKey(k)] = v;
  }
  parts.metadata = meta;
  return parts;
}

/**
 * Chroma's metadata merge (upsert and update of an existing record): each given key is set, a null
 * value removes the key; no keys left is no metadata. `update` null or undefined keeps `old`.
 */
export function mergeMetadata(old: ChromaMetadata | null, update: Record<string, Scalar | null> | null | undefined): ChromaMetadata | null {
  if (update === null || update === undefined) return old;
  const out: ChromaMetadata = { ...(old ?? {}) };
  for (const [k, v] of Object.entries(update)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return Object.keys(out).length === 0 ? null : out;
}
