// The seam between index classes and file formats: index classes offer save()/toBuffer() but
// never import io/ (FAISS keeps index_write/index_read apart from the index classes); io/
// registers its writer here when the package entry loads it.

/** What io/ provides to index classes. */
export interface IndexWriter {
  toBuffer(index: object): Uint8Array;
  save(index: object, path: string): Promise<void>;
}

let writer: IndexWriter | null = null;

/** Called once by io/index-io.ts. */
export function registerIndexWriter(w: IndexWriter): void { writer = w; }

/** The registered writer (the package entry always registers one). */
export function indexWriter(): IndexWriter {
  if (!writer) throw new Error('nearest: index serialisation is not loaded; import from the package entry');
  return writer;
}
