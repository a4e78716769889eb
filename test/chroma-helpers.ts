// Helpers of the Chroma tests: an embedding function that never embeds (every test passes its
// embeddings), registered with the client so collections it made can be opened again.
import { registerEmbeddingFunction, type EmbeddingFunction } from 'chromadb';

/** An embedding function that refuses to embed: the tests always pass embeddings themselves. */
export class NoEmbed implements EmbeddingFunction {
  name = 'no-embed';
  async generate(): Promise<number[][]> { throw new Error('test: embeddings are always passed explicitly'); }
  getConfig() { return {}; }
  buildFromConfig() { return new NoEmbed(); }
  static buildFromConfig() { return new NoEmbed(); }
}
try { registerEmbeddingFunction('no-embed', NoEmbed as never); } catch { /* registered already in this worker */ }

/** The one instance the tests pass as embeddingFunction. */
export const ef = new NoEmbed();
