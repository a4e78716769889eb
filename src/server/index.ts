// The `nearest/server` entry: an HTTP vector database over a directory of collections.
// Loading it loads Fastify and its plugins (optional dependencies); `import 'nearest'` never does.
export { createServer, type NearestServer } from './server.js';
export { DEFAULT_LIMITS, type ServerOptions, type ServerLimits, type LogLevel } from './options.js';
export { VectorService, indexFromFactory, compareIds, type CollectionSpec, type CollectionDescription, type RecordInput, type RecordOutput, type HitOutput, type SearchParams, type ScrollParams, type ScrollPage } from './service.js';
export type { WireErrorCode } from './errors.js';
