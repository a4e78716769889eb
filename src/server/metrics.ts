// Prometheus metrics (prom-client, a registry per server, never the global one): requests and their
// latency by method, route template and status; per-collection records, memory and log bytes read
// at scrape time; and prom-client's process metrics.
import client from 'prom-client';
import type { VectorService } from './service.js';

/** The metrics of one server. */
export class ServerMetrics {
  readonly registry = new client.Registry();
  private readonly requests: client.Counter<'method' | 'route' | 'status'>;
  private readonly latency: client.Histogram<'method' | 'route' | 'status'>;

  constructor(service: () => VectorService | null) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'nearest_' });
    this.requests = new client.Counter({
      name: 'nearest_http_requests_total', help: 'HTTP requests answered, by method, route template and status.',
      labelNames: ['method', 'route', 'status'], registers,
    });
    this.latency = new client.Histogram({
      name: 'nearest_http_request_duration_seconds', help: 'Time to answer an HTTP request, by method, route template and status.',
      labelNames: ['method', 'route', 'status'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    const perCollection = (name: string, help: string, pick: (c: ReturnType<VectorService['listCollections']>[number]) => number) =>
      new client.Gauge({
        name, help, labelNames: ['collection'], registers,
        collect() {
          this.reset();
          const s = service();
          if (!s) return;
          for (const c of s.listCollections()) this.set({ collection: c.name }, pick(c));
        },
      });
    perCollection('nearest_collection_records', 'Records held by a collection.', (c) => c.size);
    perCollection('nearest_collection_memory_bytes', 'Bytes a collection holds in memory (index and record table, an estimate).', (c) => c.memoryBytes);
    perCollection('nearest_collection_log_bytes', 'Bytes in a collection\'s write-ahead log since its last compaction.', (c) => c.logBytes);
    new client.Gauge({
      name: 'nearest_collections', help: 'Collections on the server.', registers,
      collect() { const s = service(); this.set(s ? s.listCollections().length : 0); },
    });
  }

  /** Records one answered request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  /** The text exposition format. */
  text(): Promise<string> { return this.registry.metrics(); }

  get contentType(): string { return this.registry.contentType; }
}
