// How failures become HTTP responses: a NearestError code maps to one status; Fastify's own
// client errors (bad JSON, wrong content type, body too large, schema violations) keep their 4xx
// status and get the same body shape; anything else is a 500 whose body says nothing internal.
//
// Body: { "error": { "code", "message", "details" } }. Never a stack trace.
import { NearestError, type ErrorCode } from '../index.js';

/** Codes of the wire errors: the library's, plus the server's own for auth and load. */
export type WireErrorCode = ErrorCode | 'UNAUTHORIZED' | 'FORBIDDEN' | 'TOO_MANY_REQUESTS' | 'INTERNAL';

/** A failure as the server reports it. */
export interface WireError {
  status: number;
  code: WireErrorCode;
  message: string;
  details: Record<string, unknown>;
}

const STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  DIMENSION_MISMATCH: 400,
  NON_FINITE_VALUE: 400,
  DUPLICATE_ID: 400,
  UNSUPPORTED: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  NOT_TRAINED: 409,
  CAPACITY_EXCEEDED: 413,
  LOCKED: 503,
  CLOSED: 503,
  IO_ERROR: 503,
  CORRUPT_FILE: 503,
  UNSUPPORTED_VERSION: 503,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};

/** The HTTP status of a NearestError code. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** A server-side failure with a status of its own (auth, load). */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: WireErrorCode, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

interface FastifyLikeError {
  statusCode?: unknown;
  code?: unknown;
  message?: unknown;
  validation?: { instancePath?: string; message?: string; keyword?: string; params?: unknown }[];
  validationContext?: string;
}

/** Details safe to send: plain JSON data only (a cause or an object with methods never leaves). */
function safeDetails(d: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Translates anything thrown while serving a request into a WireError. */
export function toWireError(e: unknown): WireError {
  if (e instanceof NearestError) return { status: statusOf(e.code), code: e.code, message: e.message, details: safeDetails(e.details) };
  if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message, details: e.details };
  const f = (typeof e === 'object' && e !== null ? e : {}) as FastifyLikeError;
  if (Array.isArray(f.validation)) {
    const where = f.validationContext ?? 'body';
    const issues = f.validation.slice(0, 10).map((v) => {
      const params = (typeof v.params === 'object' && v.params !== null ? v.params : {}) as Record<string, unknown>;
      const extra = v.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string' ? ` (unknown property ${JSON.stringify(params.additionalProperty)})` : '';
      return { path: `${where}${v.instancePath ?? ''}`, message: `${v.message ?? 'is invalid'}${extra}`, keyword: v.keyword };
    });
    const first = issues[0];
    return { status: 400, code: 'INVALID_ARGUMENT', message: first ? `${first.path} ${first.message}` : 'the request is invalid', details: { issues } };
  }
  const status = typeof f.statusCode === 'number' ? f.statusCode : 500;
  if (status >= 400 && status < 500) {
    const fcode = typeof f.code === 'string' ? f.code : '';
    const code: WireErrorCode = status === 413 ? 'CAPACITY_EXCEEDED' : status === 404 ? 'NOT_FOUND' : status === 415 ? 'UNSUPPORTED' : 'INVALID_ARGUMENT';
    const message = typeof f.message === 'string' && f.message !== '' ? f.message : 'bad request';
    return { status, code, message, details: fcode ? { reason: fcode } : {} };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error (see the server log)', details: {} };
}

/**
 * Translates a failure of a request (toWireError) and logs it: a 5xx with the error itself, a 4xx
 * as one info line. Every wire API's error handler starts here.
 */
export function loggedWireError(e: unknown, log: { error(o: object, m: string): void; info(o: object, m: string): void }): WireError {
  const w = toWireError(e);
  if (w.status >= 500) log.error({ err: e }, 'request failed');
  else log.info({ code: w.code, status: w.status }, w.message);
  return w;
}

/** The response body of a WireError. */
export function errorBody(w: WireError): { error: { code: string; message: string; details: Record<string, unknown> } } {
  return { error: { code: w.code, message: w.message, details: w.details } };
}
