// PostgreSQL log sequence numbers: the text form 'X/Y' (two hex halves of a 64-bit WAL position)
// as PostgreSQL prints it, and comparisons on bigint.

/** Parses 'X/Y'; throws INVALID_ARGUMENT-shaped errors through the caller's `bad` for anything else. */
export function parseLsn(text: string): bigint | null {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** The text form PostgreSQL prints ('0/1A2B3C'). */
export function formatLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** WAL page size (XLOG_BLCKSZ) and the largest page header (a segment's first page). */
const PAGE = 8192n, LONG_HEADER = 40n;

/**
 * Whether a follower that has processed the WAL up to `applied` has seen everything before
 * `target`. `target` comes from pg_current_wal_insert_lsn(), which at the start of a page points
 * past the page header, where no record ends: a follower at the page start has then seen it all.
 */
export function covers(applied: bigint, target: bigint): boolean {
  if (applied >= target) return true;
  const offset = target % PAGE;
  return offset <= LONG_HEADER && applied >= target - offset;
}
