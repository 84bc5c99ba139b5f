/**
 * One undici Pool per upstream origin, shared by every link and probe to that origin and
 * reference-counted so that the last user closes it. Keep-alive with a bounded number of
 * connections: long-lived SSE streams hold a connection each, hence a generous but finite cap.
 */
import { Pool } from 'undici';

const MAX_CONNECTIONS = 64;
const KEEP_ALIVE_MS = 30_000;

interface Entry {
  pool: Pool;
  refs: number;
}

const pools = new Map<string, Entry>();

/** A handle on the shared pool of one origin; call `release()` exactly once when done. */
export interface PoolLease {
  readonly pool: Pool;
  release(): void;
}

/** Takes a reference on the pool for `url`'s origin, creating it on first use. */
export function acquirePool(url: URL, connectMs: number): PoolLease {
  const origin = url.origin;
  let entry = pools.get(origin);
  if (!entry || entry.pool.closed || entry.pool.destroyed) {
    entry = {
      pool: new Pool(origin, {
        connections: MAX_CONNECTIONS,
        keepAliveTimeout: KEEP_ALIVE_MS,
        // Per-request headersTimeout/bodyTimeout override these; they are only a safety net.
        headersTimeout: 60_000,
        bodyTimeout: 300_000,
        connect: { timeout: connectMs > 0 ? connectMs : 10_000 },
      }),
      refs: 0,
    };
    pools.set(origin, entry);
  }
  const e = entry;
  e.refs++;
  let released = false;
  return {
    pool: e.pool,
    release(): void {
      if (released) return;
      released = true;
      e.refs--;
      if (e.refs <= 0) {
        if (pools.get(origin) === e) pools.delete(origin);
        // destroy, not close: close waits for long-lived SSE responses that nobody reads any more.
        e.pool.destroy().catch(() => {});
      }
    },
  };
}

/** Number of origins with a live pool (tests use it to check that links release their pools). */
export function livePoolCount(): number {
  return pools.size;
}
