// The one error class of the package, with a closed union of codes and structured details.

/** Every failure the package reports, by kind. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'DIMENSION_MISMATCH'
  | 'NON_FINITE_VALUE'
  | 'DUPLICATE_ID'
  | 'NOT_FOUND'
  | 'NOT_TRAINED'
  | 'UNSUPPORTED'
  | 'CORRUPT_FILE'
  | 'UNSUPPORTED_VERSION'
  | 'LOCKED'
  | 'CAPACITY_EXCEEDED'
  | 'ALREADY_EXISTS'
  | 'CLOSED'
  | 'IO_ERROR'
  /** A wait (a cluster search's consistency.afterLsn) ran out before its condition held. */
  | 'TIMEOUT'
  /** No replica of some shard of a cluster answered. */
  | 'UNAVAILABLE';

/**
 * Thrown by every public call of the package. `code` says what kind of failure it is, `message`
 * what was wrong and what was expected, `details` the same facts as data
 * (e.g. `{ expected: 128, received: 64 }`). A call that throws leaves the index or store unchanged.
 */
export class NearestError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NearestError';
    this.code = code;
    this.details = details;
  }
}

/** Shorthand for `new NearestError('INVALID_ARGUMENT', ...)`. */
export function invalidArgument(message: string, details: Record<string, unknown> = {}): NearestError {
  return new NearestError('INVALID_ARGUMENT', message, details);
}
