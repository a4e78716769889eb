// API keys: a read-write key and a read-only key, sent as `api-key: KEY` (Qdrant's header) or
// `Authorization: Bearer KEY`. Keys are compared in constant time (SHA-256 of both sides, then
// timingSafeEqual, so neither the content nor the length of a key leaks through timing).
//
// Each route says what it needs in its config: 'public' (health, readiness, the OpenAPI document),
// 'read' or 'write'. With no key configured every request is allowed. Otherwise a request without
// a valid key is 401, and a write with the read-only key is 403.
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

/** What a route needs. */
export type Access = 'public' | 'read' | 'write';

/** What a request's key grants. */
export type Grant = 'write' | 'read' | 'none';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Checks request keys against the configured ones. */
export class KeyChecker {
  private readonly rw: Buffer | null;
  private readonly ro: Buffer | null;

  constructor(apiKey: string | undefined, readOnlyApiKey: string | undefined) {
    this.rw = apiKey === undefined ? null : digest(apiKey);
    this.ro = readOnlyApiKey === undefined ? null : digest(readOnlyApiKey);
  }

  /** Whether keys are required at all. */
  get enabled(): boolean { return this.rw !== null || this.ro !== null; }

  /** The key a request carries: `api-key`, else `Authorization: Bearer`. */
  static keyOf(headers: Record<string, string | string[] | undefined>): string | undefined {
    const h = headers['api-key'];
    if (typeof h === 'string' && h !== '') return h;
    const a = headers.authorization;
    if (typeof a === 'string') {
      const m = /^Bearer[ ]+(\S+)\s*$/i.exec(a);
      if (m) return m[1];
    }
    return undefined;
  }

  /** What a key grants (both comparisons always run). */
  grant(key: string | undefined): Grant {
    if (!this.enabled) return 'write';
    if (key === undefined) return 'none';
    const d = digest(key);
    const isRw = this.rw !== null && timingSafeEqual(d, this.rw);
    const isRo = this.ro !== null && timingSafeEqual(d, this.ro);
    return isRw ? 'write' : isRo ? 'read' : 'none';
  }

  /** Throws 401/403 when a request may not use a route. */
  authorize(access: Access, headers: Record<string, string | string[] | undefined>): void {
    if (access === 'public' || !this.enabled) return;
    const key = KeyChecker.keyOf(headers);
    const g = this.grant(key);
    if (g === 'none') {
      throw new HttpError(401, 'UNAUTHORIZED', key === undefined
        ? 'an API key is required: send it as the api-key header or as Authorization: Bearer KEY'
        : 'the API key is not valid');
    }
    if (access === 'write' && g !== 'write') throw new HttpError(403, 'FORBIDDEN', 'this API key is read-only; writes need the read-write key');
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs (see auth.ts); default 'read' for GET and HEAD, 'write' otherwise. */
    access?: Access;
  }
}
