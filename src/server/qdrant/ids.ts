// Qdrant point ids: unsigned integers or UUIDs (in any of the spellings Qdrant parses), kept as
// the record ids of ours: a safe integer, or the UUID in canonical lower-case hyphenated form.
import { NearestError, type RecordId } from '../../index.js';

const UUID_RE = /^(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** A point id from the wire: an unsigned safe integer, or a UUID (returned canonical). */
export function parseId(v: unknown, where: string): RecordId {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
    throw new NearestError('INVALID_ARGUMENT', `${where}: a point id is an unsigned integer (at most 2^53 − 1 here) or a UUID, got ${v}`, { where });
  }
  if (typeof v === 'string') {
    const m = UUID_RE.exec(v);
    if (m) return m.slice(1).join('-').toLowerCase();
    throw new NearestError('INVALID_ARGUMENT', `${where}: Unable to parse UUID: ${v.slice(0, 64)} (a point id is an unsigned integer or a UUID)`, { where });
  }
  throw new NearestError('INVALID_ARGUMENT', `${where}: a point id is an unsigned integer or a UUID string`, { where });
}

