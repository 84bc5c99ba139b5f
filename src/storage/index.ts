/** Entry point of the storage layer: pick a backend by config and get a Store. */
import type { Logger } from '../observability/logger.js';
import { openMemoryStore } from './memory/store.js';
import type { Store } from './ports.js';
import { openSqliteStore } from './sqlite/open.js';

export type * from './ports.js';
export { RECENT_EVENTS_MAX } from './ports.js';

/** Options for `openStore`; `dataDir` is ignored by the memory backend. */
export interface OpenStoreOptions {
  kind: 'sqlite' | 'memory';
  dataDir: string;
  logger?: Logger;
}

/** Opens the configured backend; SQLite stores are migrated before this resolves. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  if (opts.kind === 'memory') return openMemoryStore();
  return openSqliteStore({ dataDir: opts.dataDir, ...(opts.logger ? { logger: opts.logger } : {}) });
}
