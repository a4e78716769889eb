// Chroma's wire conventions: its error body { error, message } with its statuses, and the checks of
// request members. Chroma (a Rust server) answers a body that is not JSON with 400
// InvalidArgumentError, a member of the wrong type with 422 ChromaError ("Failed to deserialize
// the JSON body into the target type"), and values it refuses with 400 InvalidArgumentError; the
// checks here throw the same.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NearestError } from '../../index.js';
import { loggedWireError } from '../errors.js';
import type { Scalar } from './records.js';

/** A failure with Chroma's own status and error name. */
export class ChromaError extends Error {
  constructor(readonly status: number, readonly error: string, message: string) {
    super(message);
  }
}

type Body = Record<string, unknown>;

export function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A member of the wrong type: Chroma's 422. */
export function typeError(path: string, expected: string): never {
  throw new ChromaError(422, 'ChromaError', `Failed to deserialize the JSON body into the target type: ${path}: expected ${expected}`);
}

/** A value Chroma refuses: 400 InvalidArgumentError. */
export function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw new NearestError('INVALID_ARGUMENT', message, details);
}

const ERROR_NAMES: Record<number, string> = { 400: 'InvalidArgumentError', 401: 'AuthError', 403: 'AuthError', 404: 'NotFoundError', 409: 'ChromaError', 413: 'ChromaError', 415: 'ChromaError', 422: 'ChromaError', 429: 'RateLimitError' };

/** The plugin's error handler: Chroma's body and statuses, never a stack trace. */
export function chromaError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof ChromaError) {
    req.log.info({ status: err.status }, err.message);
    return reply.code(err.status).send({ error: err.error, message: err.message });
  }
  const w = loggedWireError(err, req.log);
  let message = w.message;
  const reason = typeof w.details.reason === 'string' ? w.details.reason : '';
  if (w.status === 400 && (reason.startsWith('FST_ERR_CTP') || err instanceof SyntaxError)) message = `Failed to parse the request body as JSON: ${w.message}`;
  if (w.status === 415) message = 'Expected request with `Content-Type: application/json`';
  const error = w.status >= 500 ? 'InternalError' : ERROR_NAMES[w.status] ?? 'ChromaError';
  return reply.code(w.status).send({ error, message });
}

/** The request body as an object: 415 unless it is JSON, 422 for a JSON value other than an object. */
export function bodyOf(req: FastifyRequest): Body {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !/^application\/json\s*(;|$)/i.test(type)) throw new ChromaError(415, 'ChromaError', 'Expected request with `Content-Type: application/json`');
  const v = req.body;
  if (v === undefined) throw new ChromaError(400, 'InvalidArgumentError', 'Failed to parse the request body as JSON: EOF while parsing a value');
  if (!isObject(v)) typeError('body', 'an object');
  return v;
}

/** An optional member: undefined when absent or null. */
export function optional<T>(b: Body, key: string, parse: (v: unknown, path: string) => T): T | undefined {
  const v = b[key];
  return v === undefined || v === null ? undefined : parse(v, key);
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string') typeError(path, 'a string');
  return v;
}

export function u32(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) typeError(path, 'an unsigned 32-bit integer');
  return v;
}

export function strings(v: unknown, path: string): string[] {
  if (!Array.isArray(v)) typeError(path, 'an array of strings');
  v.forEach((x, i) => str(x, `${path}[${i}]`));
  return v as string[];
}

/** An array whose entries are strings or null. */
export function nullableStrings(v: unknown, path: string): (string | null)[] {
  if (!Array.isArray(v)) typeError(path, 'an array of strings or nulls');
  v.forEach((x, i) => { if (x !== null) str(x, `${path}[${i}]`); });
  return v as (string | null)[];
}

const F32_MAX = 3.4028234663852886e38;

/** One embedding: an array of numbers, each within float32's range (Chroma stores float32). */
export function embedding(v: unknown, path: string): number[] {
  if (!Array.isArray(v)) typeError(path, 'an array of numbers');
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number') typeError(`${path}[${i}]`, 'a number');
    if (!(Math.abs(x) <= F32_MAX)) throw new NearestError('NON_FINITE_VALUE', `${path}[${i}]: ${x} is outside the range of float32`, { path: `${path}[${i}]` });
  }
  return v as number[];
}

/** An array of embeddings; with `nullable`, entries may be null (update: keep the stored one). */
export function embeddings(v: unknown, path: string, nullable: boolean): (number[] | null)[] {
  if (!Array.isArray(v)) typeError(path, 'an array of embeddings');
  return v.map((e, i) => (nullable && e === null ? null : embedding(e, `${path}[${i}]`)));
}

function scalar(v: unknown, path: string, nullable: boolean): Scalar | null {
  if (v === null && nullable) return null;
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
  return typeError(path, nullable ? 'a string, a number, a boolean or null' : 'a string, a number or a boolean');
}

/** A metadata object; with `nullable`, values may be null (upsert / update: remove the key). */
export function metadata(v: unknown, path: string, nullable: boolean): Record<string, Scalar | null> {
  if (!isObject(v)) typeError(path, 'an object of metadata');
  for (const [k, x] of Object.entries(v)) scalar(x, `${path}.${k}`, nullable);
  return v as Record<string, Scalar | null>;
}

/** An array whose entries are metadata objects or null. */
export function metadatas(v: unknown, path: string, nullable: boolean): (Record<string, Scalar | null> | null)[] {
  if (!Array.isArray(v)) typeError(path, 'an array of metadata objects');
  return v.map((m, i) => (m === null ? null : metadata(m, `${path}[${i}]`, nullable)));
}

/** What a get or query returns besides ids. */
export type Include = 'distances' | 'documents' | 'embeddings' | 'metadatas' | 'uris';
const INCLUDES: readonly Include[] = ['distances', 'documents', 'embeddings', 'metadatas', 'uris'];

export function includeList(v: unknown, path: string): Include[] {
  if (!Array.isArray(v)) typeError(path, 'an array of distances, documents, embeddings, metadatas, uris');
  v.forEach((x, i) => { if (!INCLUDES.includes(x as Include)) typeError(`${path}[${i}]`, `one of ${INCLUDES.join(', ')}`); });
  return v as Include[];
}

/** A float32 value in its shortest decimal spelling (Chroma prints float32, not its float64 widening). */
export function shortFloat(x: number): number {
  for (let p = 1; p < 10; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}
