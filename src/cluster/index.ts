// The cluster of `nearest serve --cluster`: query nodes that follow PostgreSQL (see node.ts). Loading
// it loads `pg`, pg-logical-replication and Fastify (optional dependencies); `import 'nearest'` never does.
export { createClusterServer, type ClusterServer, type ClusterServerOptions } from './server.js';
export { ClusterNode, compareHits, type ClusterNodeOptions, type ClusterCollectionSpec, type ClusterHit, type ClusterRecord, type ClusterSearchOptions, type ShardSearchRequest } from './node.js';
export { formatLsn, parseLsn } from './lsn.js';
