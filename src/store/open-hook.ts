// The seam that lets `VectorStore.open(dir)` live on the store class while the durable
// implementation (write-ahead log, snapshots: file formats) lives in io/.

let opener: ((dir: string, options: unknown) => Promise<unknown>) | null = null;

/** Called once by io/durable-store.ts. */
export function registerStoreOpener(fn: (dir: string, options: unknown) => Promise<unknown>): void { opener = fn; }

export function storeOpener(): (dir: string, options: unknown) => Promise<unknown> {
  if (!opener) throw new Error('nearest: durable stores are not loaded; import from the package entry');
  return opener;
}
