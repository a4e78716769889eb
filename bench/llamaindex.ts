// LlamaIndex adapter benchmark (nearest/llamaindex beside LlamaIndex.TS's SimpleVectorStore), one run:
//
//   npm run bench:llamaindex              # build, then this: 100k nodes × 384-d, k = 10
//   npx tsx bench/llamaindex.ts --quick   # smoke size: 20k × 384
//
// Data: nearest/datasets' clusteredDataset, as TextNodes with number[] embeddings (what LlamaIndex
// passes). Through the BaseVectorStore API: add(nodes), then query({ queryEmbedding,
// similarityTopK: 10, mode: 'default' }) one awaited query at a time. Systems: SimpleVectorStore
// (LlamaIndex's in-memory store, exact over number[]; the ground truth), NearestVectorStore with
// the flat index (exact: its ids must equal SimpleVectorStore's, scores within 1e-5) and with HNSW
// (m 16, efSearch 16 and 64). Per system: add seconds, ms per query (median of --passes timed
// passes, SimpleVectorStore one), recall@10 against SimpleVectorStore on its queries. No bar in the
// issue for LlamaIndex; the LangChain bars are in bench/adapters.ts. Results: bench/results/llamaindex.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseEmbedding } from '@llamaindex/core/embeddings';
import { Settings } from '@llamaindex/core/global';
import { TextNode } from '@llamaindex/core/schema';
import type { VectorStoreQuery, VectorStoreQueryResult } from '@llamaindex/core/vector-store';
import { SimpleVectorStore } from 'llamaindex';
import { kernels } from 'nearest';
import { clusteredDataset } from 'nearest/datasets';
import { NearestVectorStore } from 'nearest/llamaindex';
import { benchArgs } from './lib/args.ts';
import { describeEnvironment } from './lib/environment.ts';
import { median } from './lib/stats.ts';

const { args } = benchArgs('usage: tsx bench/llamaindex.ts [--quick] [--n 100000] [--dim 384] [--queries 200] [--passes 5]', {
  quick: { type: 'boolean', default: false },
  n: { type: 'string', default: '100000' }, dim: { type: 'string', default: '384' },
  queries: { type: 'string', default: '200' }, passes: { type: 'string', default: '5' },
});
const quick = args.quick === true;
const n = quick ? 20_000 : Number(args.n), dim = Number(args.dim), nq = quick ? 50 : Number(args.queries), passes = Number(args.passes);
const nqSimple = Math.min(nq, quick ? 10 : 20), K = 10;
const root = fileURLToPath(new URL('..', import.meta.url));
const log = (m: string) => process.stderr.write(`${m}\n`);

// The stores need an embedding model to exist; every node and query here comes with its vector.
class NoEmbedding extends BaseEmbedding {
  constructor() { super(); }
  async getTextEmbedding(): Promise<number[]> { throw new Error('the benchmark embeds nothing'); }
}
Settings.embedModel = new NoEmbedding();

const data = clusteredDataset({ n, nq, dim, clusters: 64, seed: 12 });
const row = (a: Float32Array, i: number) => Array.from(a.subarray(i * dim, (i + 1) * dim));
const queries = Array.from({ length: nq }, (_, i) => row(data.test, i));
const nodes = () => Array.from({ length: n }, (_, i) => new TextNode({ id_: `node-${i}`, text: `node ${i}`, metadata: { i }, embedding: row(data.train, i) }));
const query = (embedding: number[]): VectorStoreQuery => ({ queryEmbedding: embedding, similarityTopK: K, mode: 'default' as never });

interface Store { add(nodes: TextNode[]): Promise<string[]>; query(q: VectorStoreQuery): Promise<VectorStoreQueryResult> }
async function timeAdd(store: Store): Promise<number> {
  const list = nodes();
  const t = performance.now();
  await store.add(list);
  return (performance.now() - t) / 1000;
}
async function timeQueries(store: Store, qs: number[][], times: number): Promise<{ ms: number; answers: VectorStoreQueryResult[] }> {
  for (const q of qs.slice(0, 5)) await store.query(query(q)); // warm-up
  let answers: VectorStoreQueryResult[] = [];
  const ms: number[] = [];
  for (let p = 0; p < times; p++) {
    answers = [];
    const t = performance.now();
    for (const q of qs) answers.push(await store.query(query(q)));
    ms.push((performance.now() - t) / qs.length);
  }
  return { ms: median(ms), answers };
}

log(`${n.toLocaleString('en-US')} × ${dim}, ${nq} queries (${nqSimple} for SimpleVectorStore), k = ${K}, kernels ${kernels.name}`);
const simple = new SimpleVectorStore();
const simpleAdd = await timeAdd(simple as unknown as Store);
const truth = await timeQueries(simple as unknown as Store, queries.slice(0, nqSimple), 1);
log(`SimpleVectorStore: add ${simpleAdd.toFixed(2)} s, ${truth.ms.toFixed(1)} ms/query`);

const rows: { system: string; addSeconds: number; msPerQuery: number; recall: number; sameIds?: number; maxScoreDiff?: number }[] = [
  { system: 'SimpleVectorStore (exact)', addSeconds: simpleAdd, msPerQuery: truth.ms, recall: 1 },
];
const recallOf = (answers: VectorStoreQueryResult[]) => {
  let found = 0;
  truth.answers.forEach((t, qi) => { const ids = new Set(t.ids); for (const id of answers[qi]!.ids) if (ids.has(id)) found++; });
  return found / (truth.answers.length * K);
};
for (const [system, index, efs] of [['nearest flat (exact)', { type: 'flat' }, [0]], ['nearest HNSW16', { type: 'hnsw', m: 16 }, [16, 64]]] as const) {
  const store = new NearestVectorStore({ metric: 'cosine', index: index as never });
  const addSeconds = await timeAdd(store);
  for (const ef of efs) {
    if (ef > 0) store.client()!.setSearchDefaults({ efSearch: ef });
    const run = await timeQueries(store, queries, passes);
    const r = { system: ef > 0 ? `${system} ef${ef}` : system, addSeconds, msPerQuery: run.ms, recall: recallOf(run.answers) } as (typeof rows)[number];
    if (ef === 0) {
      let same = 0, diff = 0;
      truth.answers.forEach((t, qi) => {
        const got = run.answers[qi]!;
        if (got.ids.join() === t.ids.join()) same++;
        t.similarities.forEach((s, i) => { diff = Math.max(diff, Math.abs(s - (got.similarities[i] ?? Infinity))); });
      });
      r.sameIds = same; r.maxScoreDiff = diff;
    }
    rows.push(r);
    log(`${r.system}: add ${addSeconds.toFixed(2)} s, ${run.ms.toFixed(3)} ms/query, recall@10 ${r.recall.toFixed(3)}`);
  }
}

console.log(`\nLlamaIndex BaseVectorStore API, ${n.toLocaleString('en-US')} nodes × ${dim}-d, k = ${K}, one query at a time (kernels ${kernels.name})`);
console.log(`system                       add (s)   ms/query      QPS   recall@10   ÷ SimpleVectorStore`);
for (const r of rows) {
  console.log(`${r.system.padEnd(28)} ${r.addSeconds.toFixed(2).padStart(7)} ${r.msPerQuery.toFixed(3).padStart(10)} ${(1000 / r.msPerQuery).toFixed(0).padStart(8)}   ${r.recall.toFixed(3).padStart(9)}   ${(truth.ms / r.msPerQuery).toFixed(1)}x${r.sameIds !== undefined ? `  (exact: ${r.sameIds}/${nqSimple} same ids, max |dscore| ${r.maxScoreDiff!.toExponential(2)})` : ''}`);
}
const results = join(root, 'bench', 'results');
mkdirSync(results, { recursive: true });
writeFileSync(join(results, quick ? 'llamaindex-quick.json' : 'llamaindex.json'), `${JSON.stringify({
  environment: describeEnvironment(root, process.env.NEAREST_BENCH_PYTHON ?? '/usr/bin/python3'),
  params: { n, dim, k: K, queries: nq, simpleQueries: nqSimple, passes, kernels: kernels.name }, rows,
}, null, 2)}\n`);
process.exit(rows.every((r) => r.sameIds === undefined || (r.sameIds === nqSimple && r.maxScoreDiff! <= 1e-5)) ? 0 : 1);
