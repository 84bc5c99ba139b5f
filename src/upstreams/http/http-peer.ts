/**
 * What every HTTP link (Streamable HTTP in either era, and HTTP+SSE) holds: the upstream URL, a
 * lease on the shared connection pool for its origin, a lifetime signal that ends every stream
 * not tied to a call, the operator's static headers, the message size bound, and the
 * fire-and-forget POSTs still on the wire.
 */
import { silentLogger, type Logger } from '../../observability/logger.js';
import { RpcPeer } from '../peer.js';
import type { HttpLinkConfig } from './config.js';
import { acquirePool, type PoolLease } from './pool.js';
import { lifetimeController } from './util.js';

export abstract class HttpPeer extends RpcPeer {
  protected readonly url: URL;
  protected readonly lease: PoolLease;
  /** Aborted at shutdown: ends every stream and request not tied to a call. */
  protected readonly life = lifetimeController();
  protected readonly log: Logger;
  protected readonly maxMessageBytes: number;
  protected readonly staticHeaders: Record<string, string>;
  /** Fire-and-forget POSTs (notifications, answers to server requests) still on the wire. */
  private readonly sidePosts = new Set<Promise<void>>();

  protected constructor(cfg: HttpLinkConfig) {
    super(cfg.name, cfg.timeouts);
    this.url = new URL(cfg.url);
    this.lease = acquirePool(this.url, cfg.timeouts.connectMs);
    this.log = (cfg.logger ?? silentLogger).child({ upstream: cfg.name });
    this.maxMessageBytes = cfg.maxMessageBytes;
    this.staticHeaders = cfg.headers;
  }

  /** Tracks a fire-and-forget POST until it settles. */
  protected trackSidePost(p: Promise<void>): void {
    const tracked = p.finally(() => this.sidePosts.delete(tracked));
    this.sidePosts.add(tracked);
  }

  /** Waits for fire-and-forget POSTs (e.g. notifications/initialized before the first call). */
  protected async flushSidePosts(): Promise<void> {
    await Promise.allSettled([...this.sidePosts]);
  }

  /** Ends every stream and releases the pool lease. */
  protected async shutdown(): Promise<void> {
    this.life.abort();
    this.lease.release();
  }
}
