// Write-ahead log framing. The log is a sequence of frames; one frame is what one group commit
// writes with one write and one fsync, so a frame is the unit a crash can tear:
//
//   offset size
//   0      4   magic 'NWAL' (0x4c41574e little-endian)
//   4      4   payload length in bytes (u32)
//   8      8   sequence number of the frame's first record (f64, an integer)
//   16     4   records in the frame (u32)
//   20     4   CRC-32 of the payload
//   24     4   CRC-32 of bytes 0..24 (the header above)
//   28     …   payload: records back to back
//   28+P   4   trailer magic 'NWAE' (0x4541574e)
//   32+P   4   CRC-32 of the payload, again — the frame's last bytes, so a frame with its trailer
//              in place was written whole
//
// Logs are preallocated with zeros (a write that overwrites allocated, zeroed blocks syncs with
// fdatasync alone, without a journal commit for the file's size): zeros after the last frame are
// free space, not damage.
//
// A record: u8 op, 3 zero bytes, u32 JSON length, u32 vector byte length, the JSON document, the
// vectors (float32 little-endian, row-major). Record i of a frame has sequence number first + i.
//
// Why frames tell a torn tail from corruption: frame n + 1 is only written after frame n was
// fsynced, so a frame that fails its checksum with an intact frame anywhere after it was once
// complete on disk: that is damage (CORRUPT_FILE, never cut). So is a complete frame (trailer in
// place) that fails its checksum, even the last one: it was written whole, maybe acknowledged.
// Only an incomplete last frame (no trailer) is the write a crash interrupted, never acknowledged
// (cut silently).
import { corrupt, crc32 } from './container.js';

export const LOG_MAGIC = 0x4c41574e;
export const FRAME_HEADER = 28;
/** After the payload: magic 'NWAE' and the payload CRC again — the frame's last bytes, written last. */
export const FRAME_TRAILER = 8;
export const TRAILER_MAGIC = 0x4541574e;
const RECORD_HEADER = 12;
/** A frame above this is refused on write and treated as damage on read. */
export const MAX_FRAME = 2 ** 31;

/** Record kinds (Settings: a store's search defaults, JSON only). */
export const enum LogOp { Upsert = 1, Delete = 2, Settings = 3 }

/** One log record as stored. */
export interface LogRecord {
  op: LogOp;
  seq: number;
  json: unknown;
  /** Raw float32 bytes (a copy, 4-byte aligned) or null. */
  vectors: Float32Array | null;
}

/**
 * One record's encoded bytes before it is put into a frame: the header and JSON as one part, the
 * vectors as a view of the caller's (owned) array — copied once, into the frame.
 */
const UTF8 = new TextEncoder();

export function encodeRecord(op: LogOp, json: unknown, vectors: Float32Array | null): Uint8Array[] {
  const text = UTF8.encode(JSON.stringify(json));
  const head = new Uint8Array(RECORD_HEADER + text.length);
  const v = new DataView(head.buffer);
  v.setUint8(0, op);
  v.setUint32(4, text.length, true);
  v.setUint32(8, vectors ? vectors.byteLength : 0, true);
  head.set(text, RECORD_HEADER);
  return vectors && vectors.length > 0 ? [head, new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength)] : [head];
}

/** Bytes of an encoded record. */
export function recordBytes(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * A frame as parts to write back to back (a 28-byte header, then the records' own parts: nothing is
 * copied); the payload CRC is computed over the parts in place.
 */
export function frameParts(firstSeq: number, records: readonly (readonly Uint8Array[])[]): { parts: Uint8Array[]; bytes: number } {
  let len = 0, crc = 0;
  const parts: Uint8Array[] = [new Uint8Array(FRAME_HEADER)];
  for (const r of records) for (const part of r) { len += part.length; crc = crc32(part, crc); parts.push(part); }
  if (len > MAX_FRAME - FRAME_HEADER - FRAME_TRAILER) throw corrupt(`a log frame of ${len} bytes exceeds the limit of ${MAX_FRAME}`, { bytes: len });
  const head = parts[0];
  const v = new DataView(head.buffer);
  v.setUint32(0, LOG_MAGIC, true);
  v.setUint32(4, len, true);
  v.setFloat64(8, firstSeq, true);
  v.setUint32(16, records.length, true);
  v.setUint32(20, crc, true);
  v.setUint32(24, crc32(head.subarray(0, 24)), true);
  const tail = new Uint8Array(FRAME_TRAILER);
  const t = new DataView(tail.buffer);
  t.setUint32(0, TRAILER_MAGIC, true);
  t.setUint32(4, crc, true);
  parts.push(tail);
  return { parts, bytes: FRAME_HEADER + len + FRAME_TRAILER };
}

/** An intact frame found in a log. */
export interface Frame { offset: number; end: number; firstSeq: number; count: number; payload: Uint8Array }

/** What a scan of a log found. */
export interface LogScan {
  /** Every intact frame, in file order (also those after damage). */
  frames: Frame[];
  /** Byte length of the intact prefix (where a writer appends, after zeroing a torn tail). */
  prefixEnd: number;
  /** Byte ranges that failed their checksums and are followed by an intact frame: corruption. */
  damaged: { offset: number; length: number }[];
  /** Bytes at the end that are an interrupted write (nothing intact follows them; a tail of zeros is preallocation, not torn). */
  tornBytes: number;
}

/** Finds every intact frame of a log held in memory and classifies what is not (see scanLogFile). */
export async function scanLog(buf: Uint8Array): Promise<LogScan> {
  const frames: Frame[] = [];
  const reader = { size: async () => buf.length, read: async (p: number, n: number) => buf.subarray(p, Math.min(buf.length, p + n)) };
  const r = await scanLogFile(reader, (f) => { frames.push(f); });
  return { frames, prefixEnd: r.prefixEnd, damaged: r.damaged, tornBytes: r.tornBytes };
}

/** The records of an intact frame. A frame whose checksum holds but whose records do not parse is CORRUPT_FILE. */
export function frameRecords(f: Frame, file: string): LogRecord[] {
  const out: LogRecord[] = [];
  const p = f.payload;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  for (let i = 0; i < f.count; i++) {
    const bad = (why: string) => corrupt(`${file}: record ${f.firstSeq + i} at offset ${f.offset} is malformed (${why})`, { file, offset: f.offset, seq: f.firstSeq + i });
    if (at + RECORD_HEADER > p.length) throw bad('past the end of its frame');
    const op = v.getUint8(at), tlen = v.getUint32(at + 4, true), vlen = v.getUint32(at + 8, true);
    if (op !== LogOp.Upsert && op !== LogOp.Delete && op !== LogOp.Settings) throw bad(`unknown operation ${op}`);
    if (vlen % 4 !== 0 || at + RECORD_HEADER + tlen + vlen > p.length) throw bad('lengths run past its frame');
    let json: unknown;
    try { json = JSON.parse(dec.decode(p.subarray(at + RECORD_HEADER, at + RECORD_HEADER + tlen))); } catch { throw bad('its JSON does not parse'); }
    const vs = at + RECORD_HEADER + tlen;
    const vectors = vlen > 0 ? new Float32Array(p.slice(vs, vs + vlen).buffer) : null;
    out.push({ op, seq: f.firstSeq + i, json, vectors });
    at = vs + vlen;
  }
  if (at !== p.length) throw corrupt(`${file}: frame at offset ${f.offset} has ${p.length - at} bytes after its last record`, { file, offset: f.offset });
  return out;
}

/** What a streaming scan of a log file found (scanLogFile): as LogScan, with frames counted. */
export interface LogFileScan {
  frames: number;
  /** Intact frames after the first damage. */
  framesAfterDamage: number;
  /** The highest sequence number of an intact frame's last record (0 if none). */
  lastSeq: number;
  prefixEnd: number;
  damaged: { offset: number; length: number }[];
  tornBytes: number;
}

const WINDOW = 2 ** 20;

/**
 * Scans a log file frame by frame with positional reads (one frame in memory at a time, whatever
 * the file's size), calling `onFrame` for every intact frame in file order — with `afterDamage`
 * true for those that follow a damaged range — and classifying the rest as scanLog does.
 */
export async function scanLogFile(
  h: { read(position: number, length: number): Promise<Uint8Array>; size(): Promise<number> },
  onFrame: (f: Frame, afterDamage: boolean) => void,
): Promise<LogFileScan> {
  const size = await h.size();
  /**
   * The frame at p: intact; 'damaged' when it is complete (its trailer is in place, so it was once
   * written whole and fsynced) but its payload fails its CRC; null when there is no frame or it is
   * incomplete (a torn write).
   */
  const tryFrame = async (p: number): Promise<Frame | { damagedEnd: number } | null> => {
    if (p + FRAME_HEADER > size) return null;
    const head = await h.read(p, FRAME_HEADER);
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (v.getUint32(0, true) !== LOG_MAGIC || crc32(head.subarray(0, 24)) !== v.getUint32(24, true)) return null;
    const len = v.getUint32(4, true), firstSeq = v.getFloat64(8, true), crc = v.getUint32(20, true);
    const end = p + FRAME_HEADER + len + FRAME_TRAILER;
    if (end > size || !Number.isSafeInteger(firstSeq) || firstSeq < 1) return null;
    const tail = await h.read(end - FRAME_TRAILER, FRAME_TRAILER);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    if (tail.length !== FRAME_TRAILER || tv.getUint32(0, true) !== TRAILER_MAGIC || tv.getUint32(4, true) !== crc) return null;
    const payload = await h.read(p + FRAME_HEADER, len);
    if (payload.length !== len || crc32(payload) !== crc) return { damagedEnd: end };
    return { offset: p, end, firstSeq, count: v.getUint32(16, true), payload };
  };
  const isFrame = (f: Frame | { damagedEnd: number } | null): f is Frame => f !== null && 'payload' in f;
  /** A complete frame whose header is damaged: a trailer after p whose CRC matches the bytes between. */
  const headerDamaged = async (p: number, limit: number): Promise<number> => {
    const buf = await h.read(p, Math.min(limit, size) - p);
    for (let t = FRAME_HEADER; t + FRAME_TRAILER <= buf.length; t++) {
      if (buf[t] !== 0x4e || buf[t + 1] !== 0x57 || buf[t + 2] !== 0x41 || buf[t + 3] !== 0x45) continue;
      const tv = new DataView(buf.buffer, buf.byteOffset + t, FRAME_TRAILER);
      if (crc32(buf.subarray(FRAME_HEADER, t)) === tv.getUint32(4, true)) return p + t + FRAME_TRAILER;
    }
    return -1;
  };
  const damaged: { offset: number; length: number }[] = [];
  let at = 0, prefixEnd = -1, frames = 0, after = 0, lastSeq = 0;
  while (at < size) {
    const f = await tryFrame(at);
    if (f && !isFrame(f)) {
      // Complete but damaged: corruption wherever it is, even as the last frame.
      if (prefixEnd < 0) prefixEnd = at;
      damaged.push({ offset: at, length: f.damagedEnd - at });
      at = f.damagedEnd;
      continue;
    }
    if (f) {
      frames++;
      if (damaged.length > 0) after++;
      lastSeq = Math.max(lastSeq, f.firstSeq + f.count - 1);
      onFrame(f, damaged.length > 0);
      at = f.end;
      continue;
    }
    if (prefixEnd < 0) prefixEnd = at;
    // Resynchronise: the next offset holding an intact frame, reading a window at a time.
    let next = -1, zeros = true;
    for (let w = at; w < size && next < 0; w += WINDOW) {
      const buf = await h.read(w, Math.min(WINDOW + 3, size - w));
      const end = Math.min(WINDOW, buf.length);
      for (let i = 0; i < end; i++) {
        if (buf[i] !== 0) zeros = false;
        if (w + i > at && buf[i] === 0x4e && buf[i + 1] === 0x57 && buf[i + 2] === 0x41 && buf[i + 3] === 0x4c && await tryFrame(w + i)) { next = w + i; break; }
      }
    }
    if (next < 0) {
      if (zeros) return { frames, framesAfterDamage: after, lastSeq, prefixEnd, damaged, tornBytes: 0 };
      // Nothing intact follows. A torn write, unless it is a whole frame with a damaged header.
      const end = await headerDamaged(at, Math.min(size, at + MAX_FRAME));
      if (end < 0) return { frames, framesAfterDamage: after, lastSeq, prefixEnd, damaged, tornBytes: size - at };
      damaged.push({ offset: at, length: end - at });
      at = end;
      continue;
    }
    damaged.push({ offset: at, length: next - at });
    at = next;
  }
  return { frames, framesAfterDamage: after, lastSeq, prefixEnd: prefixEnd < 0 ? size : prefixEnd, damaged, tornBytes: 0 };
}
