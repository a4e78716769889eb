// The single-file binary container every nearest file uses: a fixed 64-byte header (magic,
// format version, kind, metric, element type, dim, count, section count, header CRC32) followed by
// sections (4-byte tag, u32 flags, u64 length, u32 CRC32 of the payload, u32 reserved, payload
// padded to 8 bytes). Little-endian throughout; specified byte by byte in docs/format.md.
// A reader never lets a RangeError escape: anything malformed is CORRUPT_FILE (or
// UNSUPPORTED_VERSION for a newer format), and lengths are checked against the file before any
// allocation.
import { NearestError } from '../errors.js';

export const MAGIC = 0x5453524e; // 'NRST' read as a little-endian u32
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 64;
const SECTION_HEADER = 24;

/** What the file holds. */
export const enum FileKind { Flat = 1, Hnsw = 2, Ivf = 3, StoreSnapshot = 16 }

export interface ContainerHeader {
  kind: number;
  /** 0 cosine, 1 euclidean, 2 dot. */
  metric: number;
  /** 1 = float32. */
  elementType: number;
  flags: number;
  dim: number;
  count: number;
}

export interface Section { tag: string; bytes: Uint8Array }

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

// Node's zlib.crc32 (native, Node ≥ 20.15) when present; the table-driven loop elsewhere.
const nativeCrc = typeof process === 'object' && process.versions?.node !== undefined
  ? ((await import('node:zlib')) as { crc32?: (data: Uint8Array, value?: number) => number }).crc32 ?? null
  : null;

/** CRC-32 (IEEE 802.3, as zlib and PNG) of bytes. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (nativeCrc && bytes.length > 64) return nativeCrc(bytes, crc) >>> 0;
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export function corrupt(message: string, details: Record<string, unknown> = {}): NearestError {
  return new NearestError('CORRUPT_FILE', message, details);
}

/** The 64-byte file header of a container of `nsec` sections and `total` bytes. */
function fileHeader(h: ContainerHeader, nsec: number, total: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint16(4, FORMAT_VERSION, true);
  v.setUint8(6, h.kind);
  v.setUint8(7, h.metric);
  v.setUint8(8, h.elementType);
  v.setUint8(9, h.flags);
  v.setUint32(12, h.dim, true);
  v.setFloat64(16, h.count, true);
  v.setUint32(24, nsec, true);
  v.setFloat64(28, total, true);
  v.setUint32(60, crc32(out.subarray(0, 60)), true);
  return out;
}

/** The 24-byte header of a section. */
function sectionHeader(tag: string, length: number, crc: number): Uint8Array {
  if (!/^[\x20-\x7e]{4}$/.test(tag)) throw new Error(`bad section tag ${tag}`);
  const out = new Uint8Array(SECTION_HEADER);
  const v = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = tag.charCodeAt(i);
  v.setFloat64(8, length, true);
  v.setUint32(16, crc, true);
  return out;
}

/** Serialises a header and sections into one buffer. */
export function writeContainer(h: ContainerHeader, sections: Section[]): Uint8Array {
  const out = new Uint8Array(containerBytes(sections));
  let at = 0;
  for (const part of containerParts(h, sections)) { out.set(part, at); at += part.length; }
  return out;
}

/** The size of a container holding `sections`. */
function containerBytes(sections: readonly Section[]): number {
  let total = HEADER_BYTES;
  for (const s of sections) total += SECTION_HEADER + Math.ceil(s.bytes.length / 8) * 8;
  return total;
}

/**
 * Checks a container's 64-byte header against the file's size: magic, CRC, version, total length,
 * count. `where` prefixes messages and `ctx` is added to details (a file name, or nothing).
 */
function parseHeader(head: Uint8Array, size: number, where: string, ctx: Record<string, unknown>): { header: ContainerHeader; nsec: number } {
  if (head.length < HEADER_BYTES) throw corrupt(`${where}file too short for a header: ${head.length} bytes, need ${HEADER_BYTES}`, { ...ctx, bytes: head.length });
  const v = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
  if (v.getUint32(0, true) !== MAGIC) throw corrupt(`${where}wrong magic: not a nearest file`, { ...ctx, magic: v.getUint32(0, true).toString(16) });
  const stored = v.getUint32(60, true), actual = crc32(head.subarray(0, 60));
  if (stored !== actual) throw corrupt(`${where}header checksum mismatch`, { ...ctx, stored, actual });
  const version = v.getUint16(4, true);
  if (version > FORMAT_VERSION) {
    throw new NearestError('UNSUPPORTED_VERSION', `${where}file format version ${version} is newer than this library's (${FORMAT_VERSION}); upgrade nearest`, { ...ctx, version, supported: FORMAT_VERSION });
  }
  if (version < 1) throw corrupt(`${where}invalid format version ${version}`, { ...ctx, version });
  const header: ContainerHeader = {
    kind: v.getUint8(6), metric: v.getUint8(7), elementType: v.getUint8(8), flags: v.getUint8(9),
    dim: v.getUint32(12, true), count: v.getFloat64(16, true),
  };
  const total = v.getFloat64(28, true);
  if (total !== size) throw corrupt(`${where}file is ${size} bytes but its header says ${total}: truncated or extended`, { ...ctx, expected: total, received: size });
  if (!Number.isSafeInteger(header.count) || header.count < 0) throw corrupt(`${where}invalid vector count`, { ...ctx, count: header.count });
  return { header, nsec: v.getUint32(24, true) };
}

/** Checks the section header `sh` found at offset `at` of a file of `size` bytes. */
function parseSectionHeader(sh: Uint8Array, at: number, size: number, where: string, ctx: Record<string, unknown>): { tag: string; len: number; padded: number; crc: number } {
  const v = new DataView(sh.buffer, sh.byteOffset, SECTION_HEADER);
  const tag = String.fromCharCode(sh[0], sh[1], sh[2], sh[3]);
  const len = v.getFloat64(8, true);
  if (!Number.isSafeInteger(len) || len < 0 || at + SECTION_HEADER + len > size) {
    throw corrupt(`${where}section '${tag}' claims ${len} bytes, past the end of the file`, { ...ctx, section: tag, length: len });
  }
  if (v.getUint32(4, true) !== 0 || v.getUint32(20, true) !== 0) throw corrupt(`${where}section '${tag}' has non-zero reserved fields`, { ...ctx, section: tag });
  const padded = Math.ceil(len / 8) * 8;
  if (at + SECTION_HEADER + padded > size) throw corrupt(`${where}section '${tag}' padding is damaged`, { ...ctx, section: tag });
  return { tag, len, padded, crc: v.getUint32(16, true) };
}

/** Parses and verifies a container: header CRC, version, every section's bounds and CRC. */
export function readContainer(buf: Uint8Array): { header: ContainerHeader; sections: Map<string, Uint8Array> } {
  if (!(buf instanceof Uint8Array)) throw corrupt('not a byte buffer');
  const { header, nsec } = parseHeader(buf, buf.length, '', {});
  const sections = new Map<string, Uint8Array>();
  let at = HEADER_BYTES;
  for (let i = 0; i < nsec; i++) {
    if (at + SECTION_HEADER > buf.length) throw corrupt(`section ${i} header runs past the end of the file`, { section: i });
    const { tag, len, padded, crc } = parseSectionHeader(buf.subarray(at, at + SECTION_HEADER), at, buf.length, '', {});
    for (let p = at + SECTION_HEADER + len; p < at + SECTION_HEADER + padded; p++) {
      if (buf[p] !== 0) throw corrupt(`section '${tag}' padding is damaged`, { section: tag });
    }
    const bytes = buf.subarray(at + SECTION_HEADER, at + SECTION_HEADER + len);
    if (crc32(bytes) !== crc) throw corrupt(`section '${tag}' checksum mismatch`, { section: tag });
    if (sections.has(tag)) throw corrupt(`section '${tag}' appears twice`, { section: tag });
    sections.set(tag, bytes);
    at += SECTION_HEADER + padded;
  }
  if (at !== buf.length) throw corrupt('trailing bytes after the last section', { end: at, length: buf.length });
  return { header, sections };
}

/** Section payload readers that check lengths (CORRUPT_FILE on mismatch). */
export class SectionReader {
  constructor(private readonly sections: Map<string, Uint8Array>) {}
  private get(tag: string, optional = false): Uint8Array | null {
    const s = this.sections.get(tag);
    if (!s && !optional) throw corrupt(`missing section '${tag}'`, { section: tag });
    return s ?? null;
  }
  has(tag: string): boolean { return this.sections.has(tag); }
  private typed<T>(tag: string, width: number, count: number | null, make: (b: ArrayBuffer, offset: number, length: number) => T): T {
    const s = this.get(tag)!;
    if (s.length % width !== 0 || (count !== null && s.length !== count * width)) {
      throw corrupt(`section '${tag}' has ${s.length} bytes, expected ${count === null ? `a multiple of ${width}` : count * width}`, { section: tag, bytes: s.length });
    }
    // Aligned payloads are viewed in place (no copy): the loaders copy into kernel memory anyway.
    if (s.byteOffset % width === 0) return make(s.buffer as ArrayBuffer, s.byteOffset, s.length / width);
    return make(s.slice().buffer, 0, s.length / width);
  }
  f32(tag: string, count: number | null = null): Float32Array { return this.typed(tag, 4, count, (b, o, n) => new Float32Array(b, o, n)); }
  f64(tag: string, count: number | null = null): Float64Array { return this.typed(tag, 8, count, (b, o, n) => new Float64Array(b, o, n)); }
  i32(tag: string, count: number | null = null): Int32Array { return this.typed(tag, 4, count, (b, o, n) => new Int32Array(b, o, n)); }
  u8(tag: string, count: number | null = null): Uint8Array { return this.typed(tag, 1, count, (b, o, n) => new Uint8Array(b, o, n)); }
  i8(tag: string, count: number | null = null): Int8Array { return this.typed(tag, 1, count, (b, o, n) => new Int8Array(b, o, n)); }
  /** A small JSON document of parameters (never vectors). */
  json(tag: string): Record<string, unknown> {
    const s = this.get(tag)!;
    try {
      const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(s));
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, unknown>;
    } catch (e) {
      throw corrupt(`section '${tag}' is not a valid parameter document`, { section: tag, cause: String(e) });
    }
  }
}

/** Bytes of a typed array (a view, no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array { return new Uint8Array(a.buffer, a.byteOffset, a.byteLength); }

/** Bytes of a JSON parameter document. */
export function jsonBytes(v: unknown): Uint8Array { return new TextEncoder().encode(JSON.stringify(v)); }

/**
 * A container's bytes as a sequence of parts — headers, then each payload as given (views, never
 * copied) — for writing as a stream. Section CRCs are computed first, over the payloads in place.
 */
export function* containerParts(h: ContainerHeader, sections: readonly Section[]): Generator<Uint8Array> {
  const crcs = sections.map((s) => crc32(s.bytes));
  yield fileHeader(h, sections.length, containerBytes(sections));
  const pad = new Uint8Array(8);
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i];
    yield sectionHeader(s.tag, s.bytes.length, crcs[i]);
    yield s.bytes;
    const padding = Math.ceil(s.bytes.length / 8) * 8 - s.bytes.length;
    if (padding > 0) yield pad.subarray(0, padding);
  }
}

/** A section whose payload is produced piece by piece (never assembled whole in memory). */
export interface StreamSection { tag: string; parts: Iterable<Uint8Array> }

/**
 * Writes a container to `h` from position 0, one part at a time: placeholders first, then each
 * payload as it is produced (CRC computed on the way), then the section headers and the file
 * header patched in place. Memory stays at one part, whatever the file size. Returns the size.
 */
export async function writeContainerStream(
  h: { write(bytes: Uint8Array, position?: number): Promise<void> },
  header: ContainerHeader,
  sections: readonly StreamSection[],
): Promise<number> {
  let at = HEADER_BYTES;
  const pad = new Uint8Array(8);
  for (const s of sections) {
    sectionHeader(s.tag, 0, 0); // checks the tag before anything is written
    const start = at;
    at += SECTION_HEADER;
    let crc = 0, len = 0;
    for (const part of s.parts) {
      if (part.length === 0) continue;
      await h.write(part, at);
      crc = crc32(part, crc);
      len += part.length; at += part.length;
    }
    const padding = Math.ceil(len / 8) * 8 - len;
    if (padding > 0) { await h.write(pad.subarray(0, padding), at); at += padding; }
    await h.write(sectionHeader(s.tag, len, crc), start);
  }
  await h.write(fileHeader(header, sections.length, at), 0);
  return at;
}

/** Where a section's payload lies in a file read piece by piece. */
interface SectionEntry { offset: number; length: number; crc: number }

/**
 * A container read from a file piece by piece (positional reads): the header and the section table
 * are checked as readContainer checks them, payloads are read on demand — whole (`read`) or in
 * chunks (`stream`, for sections bigger than one wants in memory at once) — and each payload's
 * CRC is verified when its last byte has been read (CORRUPT_FILE otherwise).
 */
export async function openContainer(h: { read(position: number, length: number): Promise<Uint8Array>; size(): Promise<number> }, file: string): Promise<{
  header: ContainerHeader;
  /** Every section in file order: its tag, payload offset and length. */
  sections(): { tag: string; offset: number; length: number }[];
  has(tag: string): boolean;
  length(tag: string): number;
  read(tag: string): Promise<Uint8Array>;
  stream(tag: string, chunkBytes: number): AsyncGenerator<Uint8Array>;
}> {
  const size = await h.size();
  const where = `${file}: `, ctx = { file };
  const { header, nsec } = parseHeader(await h.read(0, Math.min(size, HEADER_BYTES)), size, where, ctx);
  const table = new Map<string, SectionEntry>();
  let at = HEADER_BYTES;
  for (let i = 0; i < nsec; i++) {
    if (at + SECTION_HEADER > size) throw corrupt(`${where}section ${i} header runs past the end of the file`, { file, section: i });
    const { tag, len, padded, crc } = parseSectionHeader(await h.read(at, SECTION_HEADER), at, size, where, ctx);
    if (padded > len && (await h.read(at + SECTION_HEADER + len, padded - len)).some((b) => b !== 0)) {
      throw corrupt(`${where}section '${tag}' padding is damaged`, { file, section: tag });
    }
    if (table.has(tag)) throw corrupt(`${where}section '${tag}' appears twice`, { file, section: tag });
    table.set(tag, { offset: at + SECTION_HEADER, length: len, crc });
    at += SECTION_HEADER + padded;
  }
  if (at !== size) throw corrupt(`${file}: trailing bytes after the last section`, { file, end: at, length: size });
  const entry = (tag: string) => {
    const e = table.get(tag);
    if (!e) throw corrupt(`${file}: missing section '${tag}'`, { file, section: tag });
    return e;
  };
  async function* stream(tag: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
    const e = entry(tag);
    let crc = 0;
    for (let p = 0; p < e.length; p += chunkBytes) {
      const part = await h.read(e.offset + p, Math.min(chunkBytes, e.length - p));
      if (part.length !== Math.min(chunkBytes, e.length - p)) throw corrupt(`${file}: section '${tag}' ends early`, { file, section: tag });
      crc = crc32(part, crc);
      if (p + part.length >= e.length && crc !== e.crc) throw corrupt(`${file}: section '${tag}' checksum mismatch`, { file, section: tag });
      yield part;
    }
    if (e.length === 0 && e.crc !== 0) throw corrupt(`${file}: section '${tag}' checksum mismatch`, { file, section: tag });
  }
  return {
    header,
    sections: () => [...table].map(([tag, e]) => ({ tag, offset: e.offset, length: e.length })),
    has: (tag) => table.has(tag),
    length: (tag) => entry(tag).length,
    async read(tag) {
      const e = entry(tag);
      const bytes = await h.read(e.offset, e.length);
      if (bytes.length !== e.length || crc32(bytes) !== e.crc) throw corrupt(`${file}: section '${tag}' checksum mismatch`, { file, section: tag });
      return bytes;
    },
    stream,
  };
}
