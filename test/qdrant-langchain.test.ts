// MMR queries ({ query: { nearest, mmr } }) through @qdrant/js-client-rest, checked against a
// greedy MMR computed here, and the @langchain/qdrant QdrantVectorStore flow (fromTexts,
// similaritySearch with and without a filter, scores, maxMarginalRelevanceSearch, delete by ids
// and by filter) with a deterministic fake embeddings class, against the real server on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QdrantClient } from '@qdrant/js-client-rest';
import { QdrantVectorStore } from '@langchain/qdrant';
import { Embeddings } from '@langchain/core/embeddings';
import type { NearestServer } from 'nearest/server';
import { cleanup, start } from './server-helpers.js';
import { prng } from './helpers.js';

afterAll(cleanup);

const DIM = 8;

/** Deterministic embeddings: letter counts folded into DIM buckets, plus a constant. */
function embed(text: string): number[] {
  const v = new Array<number>(DIM).fill(0);
  for (const ch of text.toLowerCase()) {
    const c = ch.charCodeAt(0);
    if (c >= 97 && c <= 122) v[(c - 97) % DIM] += 1;
  }
  v[DIM - 1] += 0.5;
  return Array.from(new Float32Array(v));
}

class FakeEmbeddings extends Embeddings {
  constructor() { super({}); }
  async embedDocuments(texts: string[]): Promise<number[][]> { return texts.map(embed); }
  async embedQuery(text: string): Promise<number[]> { return embed(text); }
}

function cosine(a: number[], b: number[]): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
  return d / Math.sqrt(na * nb);
}

/** The oracle: candidates (best first) re-ranked by greedy MMR with λ = 1 − diversity. */
function mmrOracle<T extends { v: number[] }>(q: number[], cands: T[], diversity: number, limit: number): T[] {
  const lambda = 1 - diversity;
  const left = cands.slice();
  const out: T[] = [];
  while (out.length < limit && left.length > 0) {
    let bi = 0, bs = -Infinity;
    left.forEach((c, i) => {
      const rel = cosine(q, c.v);
      const s = out.length === 0 ? rel : lambda * rel - (1 - lambda) * Math.max(...out.map((o) => cosine(c.v, o.v)));
      if (s > bs) { bs = s; bi = i; }
    });
    out.push(left.splice(bi, 1)[0]!);
  }
  return out;
}

let server: NearestServer;
beforeAll(async () => { server = await start(); });

describe('qdrant: MMR queries', () => {
  it('{ nearest, mmr } selects greedily among candidates_limit nearest, keeping query scores', async () => {
    const qc = new QdrantClient({ url: server.url, checkCompatibility: false });
    await qc.createCollection('mmr', { vectors: { size: DIM, distance: 'Cosine' }, hnsw_config: { m: 0 } });
    const r = prng(21);
    // clusters of near-duplicates, so diversity changes the answer
    const pts = Array.from({ length: 40 }, (_, i) => {
      const base = Array.from({ length: DIM }, (_, j) => Math.sin((i % 5) * 1.7 + j));
      return { id: i, vector: Array.from(new Float32Array(base.map((x) => x + (r() - 0.5) * 0.05))), payload: { cluster: i % 5 } };
    });
    await qc.upsert('mmr', { points: pts });
    const q = Array.from({ length: DIM }, (_, j) => Math.sin(j) + 0.3 * Math.sin(1.7 + j));
    const byRel = pts.map((p) => ({ id: p.id, v: p.vector, s: cosine(q, p.vector) })).sort((a, b) => b.s - a.s);
    for (const [diversity, candidates, limit] of [[0.5, 20, 5], [0.9, 40, 6], [0, 10, 4], [0.3, 8, 8]] as const) {
      const want = mmrOracle(q, byRel.slice(0, candidates), diversity, limit);
      const res = await qc.query('mmr', { query: { nearest: q, mmr: { diversity, candidates_limit: candidates } }, limit, with_payload: true });
      expect(res.points.map((p) => p.id)).toEqual(want.map((w) => w.id));
      res.points.forEach((p, i) => expect(p.score).toBeCloseTo(want[i]!.s, 4));
      expect(res.points[0]!.id).toBe(byRel[0]!.id); // most relevant first
      expect(res.points[0]!.vector ?? undefined).toBeUndefined();
    }
    // diversity 0 is plain nearest order
    const plain = await qc.query('mmr', { query: { nearest: q, mmr: { diversity: 0, candidates_limit: 30 } }, limit: 7 });
    expect(plain.points.map((p) => p.id)).toEqual(byRel.slice(0, 7).map((p) => p.id));
    // high diversity spreads over clusters where plain nearest does not
    const diverse = await qc.query('mmr', { query: { nearest: q, mmr: { diversity: 0.9, candidates_limit: 40 } }, limit: 5, with_payload: true });
    expect(new Set(diverse.points.map((p) => p.payload!.cluster)).size).toBe(5);
    // a filter applies to the candidates
    const filtered = await qc.query('mmr', { query: { nearest: q, mmr: { diversity: 0.5, candidates_limit: 40 } }, limit: 3, filter: { must: [{ key: 'cluster', match: { value: 2 } }] }, with_payload: true });
    expect(filtered.points.map((p) => p.payload!.cluster)).toEqual([2, 2, 2]);
    // bad parameters are 400
    for (const mmr of [{ diversity: 2 }, { diversity: 0.5, candidates_limit: -1 }, { lambda: 0.5 }]) {
      await expect(qc.query('mmr', { query: { nearest: q, mmr: mmr as never }, limit: 3 })).rejects.toMatchObject({ status: 400 });
    }
  });
});

describe('langchain: QdrantVectorStore', () => {
  const texts = ['the cat sat on the mat', 'dogs chase cats', 'quantum chromodynamics', 'a kitten on a mat', 'stock markets fell', 'the cat and the hat'];
  const metas = texts.map((_, i) => ({ source: i % 2 === 0 ? 'even' : 'odd', n: i }));

  it('fromTexts, similaritySearch (with scores and filters), MMR, delete', async () => {
    const embeddings = new FakeEmbeddings();
    const store = await QdrantVectorStore.fromTexts(texts, metas, embeddings, { url: server.url, collectionName: 'lc' });
    const qc = new QdrantClient({ url: server.url, checkCompatibility: false });
    expect(await qc.count('lc')).toEqual({ count: texts.length });
    expect((await qc.getCollection('lc')).config.params.vectors).toEqual({ size: DIM, distance: 'Cosine' });

    const query = 'cat on a mat';
    const ranked = texts.map((t, i) => ({ t, i, s: cosine(embed(query), embed(t)) })).sort((a, b) => b.s - a.s);
    const docs = await store.similaritySearch(query, 3);
    expect(docs.map((d) => d.pageContent)).toEqual(ranked.slice(0, 3).map((r) => r.t));
    expect(docs[0]!.metadata).toEqual(metas[ranked[0]!.i]);
    const withScores = await store.similaritySearchWithScore(query, 2);
    withScores.forEach(([d, s], i) => { expect(d.pageContent).toBe(ranked[i]!.t); expect(s).toBeCloseTo(ranked[i]!.s, 4); });

    const odd = await store.similaritySearch(query, 10, { must: [{ key: 'metadata.source', match: { value: 'odd' } }] });
    expect(odd.map((d) => d.pageContent)).toEqual(ranked.filter((r) => r.i % 2 === 1).map((r) => r.t));

    const mmr = await store.maxMarginalRelevanceSearch(query, { k: 3, fetchK: 6, lambda: 0.5 });
    const want = mmrOracle(embed(query), ranked.map((r) => ({ ...r, v: embed(r.t) })), 0.5, 3);
    expect(mmr.map((d) => d.pageContent)).toEqual(want.map((w) => w.t));

    // addDocuments with ids, then delete by ids and by filter
    await store.addDocuments([{ pageContent: 'extra cat', metadata: { source: 'extra', n: 99 } }], { ids: ['5c56c793-69f3-4fbf-87e6-c4bf54c28c26'] });
    expect(await qc.count('lc')).toEqual({ count: texts.length + 1 });
    await store.delete({ ids: ['5c56c793-69f3-4fbf-87e6-c4bf54c28c26'] });
    expect(await qc.count('lc')).toEqual({ count: texts.length });
    await store.delete({ filter: { must: [{ key: 'metadata.source', match: { value: 'even' } }] } });
    expect(await qc.count('lc')).toEqual({ count: 3 });
    const rest = await store.similaritySearch(query, 10);
    expect(rest.map((d) => d.metadata.source)).toEqual(['odd', 'odd', 'odd']);

    // a second store on the existing collection finds it (ensureCollection does not recreate it)
    const again = await QdrantVectorStore.fromExistingCollection(embeddings, { url: server.url, collectionName: 'lc' });
    expect((await again.similaritySearch(query, 1))[0]!.pageContent).toBe(rest[0]!.pageContent);
  });
});
