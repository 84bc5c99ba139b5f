/** What the front door needs from the running gateway (implemented in gateway.ts). */
import type { Snapshot } from '../config/compile.js';
import type { CatalogView } from '../catalog/view.js';
import type { Logger } from '../observability/logger.js';
import type { Runtime } from '../pipeline/context.js';
import type { SessionStore } from '../sessions/store.js';
import type { HostPolicy } from './guards.js';

/** `/mcp` is the default endpoint; each virtual server has `/servers/<name>/mcp`. */
export interface Endpoint {
  name: string;
  eras: 'both' | 'legacy' | 'modern';
  /** The tenant owning a virtual server; undefined for the default endpoint, which every tenant uses. */
  tenant?: string;
}

export interface GatewayCore {
  snapshot(): Snapshot;
  endpoint(name: string | undefined): Endpoint | undefined;
  /** What principals of `tenant` see through `endpoint`. */
  view(endpoint: string, tenant: string): CatalogView;
  readonly runtime: Runtime;
  readonly sessions: SessionStore;
  readonly log: Logger;
  hostPolicy(): HostPolicy;
  nextCallId(): string;
  /** Calls in flight, for graceful shutdown. */
  track<T>(p: Promise<T>): Promise<T>;
}
