// createServer: the HTTP server over a database directory. Fastify 5 routes, validates (TypeBox
// schemas through Fastify's Ajv) and serialises; pino (Fastify's logger) writes JSON logs with a
// request id; prom-client counts; @fastify/swagger writes /openapi.json from the same schemas and
// @fastify/swagger-ui serves a docs page over that document at /docs.
//
// Request lifecycle: CORS (when enabled) → in-flight limit (429) → API key (401/403) → body parsing
// and schema validation (400/413/415) → the wire API's handler → the service → the library. Every
// failure leaves through one error handler as { error: { code, message, details } }.
//
// Wire APIs are registered side by side over one VectorService; the native one lives under /v1.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fastify, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import cors from '@fastify/cors';
import { NearestError } from '../index.js';
import { KeyChecker, type Access } from './auth.js';
import { errorBody, HttpError, loggedWireError, toWireError } from './errors.js';
import { ServerMetrics } from './metrics.js';
import { registerNativeRoutes } from './native/routes.js';
import { qdrantPlugin } from './qdrant/routes.js';
import { chromaPlugin } from './chroma/routes.js';
import { serviceBackend } from './chroma/backend.js';
import { schemas } from './native/schemas.js';
import { resolveOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import { VectorService } from './service.js';

/** A server made by `createServer`. */
export interface NearestServer {
  /** Opens the database and starts listening; resolves once requests are served (and /readyz is 200). */
  listen(): Promise<void>;
  /**
   * Stops accepting connections, lets requests in flight finish (up to `closeTimeout`), then closes
   * the database (every acknowledged write is on disk already). Idempotent.
   */
  close(): Promise<void>;
  /** `http://HOST:PORT`: the port actually bound once listening (so port 0 shows the one picked). */
  readonly url: string;
  /** The Fastify instance, once listening (for tests and embedding; undefined before). */
  readonly app: FastifyInstance | undefined;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function hostForUrl(host: string): string {
  const h = host.replace(/^\[|\]$/g, '');
  return h.includes(':') ? `[${h}]` : h;
}

/** Answers a request Node's HTTP parser refused, with the error body, and closes the connection. */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, message] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'the request took too long to arrive']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
      : [400, 'Bad Request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify(errorBody({ status, code: status === 431 ? 'CAPACITY_EXCEEDED' : 'INVALID_ARGUMENT', message, details: {} }));
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}

async function buildApp(o: ResolvedServerOptions, service: VectorService, state: { ready: boolean; closing: boolean }): Promise<FastifyInstance> {
  const app = fastify({
    logger: { level: o.logLevel, ...(o.logStream ? { stream: o.logStream } : {}) },
    bodyLimit: o.limits.bodyBytes,
    routerOptions: { maxParamLength: 1024 },
    genReqId: () => randomUUID(),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: true } },
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Requests Node's HTTP parser refuses before Fastify sees them (bad request lines or headers).
    clientErrorHandler: clientError,
    // Bad percent-encoding in a URL, over-long path parameters: the same error body as the rest.
    frameworkErrors: (err, _req, reply) => {
      const w = toWireError(err);
      void (reply as unknown as { code(n: number): { send(b: unknown): void } }).code(w.status).send(errorBody(w));
    },
  });
  const keys = new KeyChecker(o.apiKey, o.readOnlyApiKey);
  const metrics = new ServerMetrics(() => (state.ready ? service : null));
  let inFlight = 0;

  app.setErrorHandler((err, req, reply) => {
    const w = loggedWireError(err, req.log);
    return reply.code(w.status).send(errorBody(w));
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.length > 200 ? `${req.url.slice(0, 200)}…` : req.url;
    return reply.code(404).send(errorBody({ status: 404, code: 'NOT_FOUND', message: `no route ${req.method} ${path}`, details: {} }));
  });

  if (o.cors) await app.register(cors, { origin: o.cors.includes('*') ? true : o.cors, allowedHeaders: ['content-type', 'api-key', 'authorization'] });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const access = (req.routeOptions.config as { access?: Access } | undefined)?.access
      ?? (req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write');
    if (access !== 'public') {
      if (inFlight >= o.limits.inFlight) throw new HttpError(429, 'TOO_MANY_REQUESTS', `the server is answering ${o.limits.inFlight} requests already; retry later`, { max: o.limits.inFlight });
      inFlight++;
      reply.raw.once('close', () => { inFlight--; });
    }
    keys.authorize(access, req.headers);
  });
  // While closing, answers end their connections, so keep-alive clients do not hold close() up.
  app.addHook('onSend', async (_req, reply) => { if (state.closing) reply.header('connection', 'close'); });
  app.addHook('onResponse', async (req, reply) => {
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  app.addHook('onClose', async () => { metrics.registry.clear(); });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'nearest', version: packageVersion(), description: 'The native API of nearest serve. Errors: { error: { code, message, details } }.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'api-key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      ...(keys.enabled ? { security: [{ apiKey: [] }, { bearer: [] }] } : {}),
    },
  });

  const publicRoute = { access: 'public' as const };
  app.get('/healthz', { config: publicRoute, schema: { tags: ['operations'], summary: 'Liveness: 200 while the process serves HTTP' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: publicRoute, schema: { tags: ['operations'], summary: 'Readiness: 200 once the database is open and the server listens, 503 while closing' } }, async (_req, reply) => {
    if (!state.ready) return reply.code(503).send({ status: 'unavailable' });
    return { status: 'ready' };
  });
  app.get('/metrics', { config: { access: 'read' as const }, schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)' } }, async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.text();
  });
  app.get('/openapi.json', { config: publicRoute, schema: { hide: true } }, async () => app.swagger());
  // The docs page, its assets and its copy of the document (/docs/json) are public like /openapi.json.
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => { route.config = { ...(route.config as object | undefined), access: 'public' }; });
    await scope.register(swaggerUi, { routePrefix: '/docs' });
  });

  registerNativeRoutes(app, service, schemas(o.limits));
  await app.register(qdrantPlugin, { service, version: packageVersion() });
  await app.register(chromaPlugin, { backend: serviceBackend(service) });
  await app.ready();
  return app;
}

/**
 * Makes a server over the database in `options.dataDir` (see ServerOptions for every option and
 * its default). Options are checked at once: a bad one, or a non-loopback host without an API key
 * (unless `insecure`), is INVALID_ARGUMENT. Nothing is opened until `listen()`.
 */
export function createServer(options: ServerOptions): NearestServer {
  const o = resolveOptions(options);
  const state = { ready: false, closing: false };
  let app: FastifyInstance | undefined;
  let service: VectorService | undefined;
  let url = `http://${hostForUrl(o.host)}:${o.port}`;
  let listening: Promise<void> | null = null;
  let closing: Promise<void> | null = null;

  async function start(): Promise<void> {
    service = await VectorService.open(o.dataDir, o.limits, { readOnly: o.readOnly });
    try {
      app = await buildApp(o, service, state);
      await app.listen({ host: o.host, port: o.port });
    } catch (e) {
      await app?.close().catch(() => {});
      await service.close().catch(() => {});
      app = undefined; service = undefined;
      throw e;
    }
    const addr = app.server.address() as AddressInfo;
    url = `http://${hostForUrl(o.host)}:${addr.port}`;
    state.ready = true;
  }

  async function stop(): Promise<void> {
    if (listening) await listening.catch(() => {});
    state.ready = false;
    state.closing = true;
    if (app) {
      const a = app;
      const timer = setTimeout(() => a.server.closeAllConnections(), o.closeTimeout);
      try { await a.close(); } finally { clearTimeout(timer); }
    }
    await service?.close();
  }

  return {
    listen() {
      if (closing) return Promise.reject(new NearestError('CLOSED', 'listen: the server was closed', {}));
      listening ??= start();
      return listening;
    },
    close() {
      closing ??= stop();
      return closing;
    },
    get url() { return url; },
    get app() { return app; },
  };
}
