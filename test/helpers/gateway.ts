/**
 * Starts a real gateway in-process on 127.0.0.1:0 from YAML text, for tests at the wire.
 * `waitHealthy` polls /readyz until the named upstreams are healthy (bounded).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from '../../src/config/load.js';
import { SnapshotHolder } from '../../src/config/holder.js';
import { createLogger } from '../../src/observability/logger.js';
import { openStore, type Store } from '../../src/storage/index.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { createApiKey } from '../../src/auth/keys/api-key.js';
import { loadKeyHashKey } from '../../src/auth/keys/hash-key.js';

export interface TestGateway {
  url: string;
  mcp: string;
  gateway: Gateway;
  holder: SnapshotHolder;
  /** The gateway's (memory) store, e.g. to add users or API keys. */
  store: Store;
  dir: string;
  /** Applies new YAML as a hot reload would. */
  reload(yaml: string): void;
  waitHealthy(names?: string[], timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Receives the gateway's JSON log at `logLevel` (default: no log at all). */
  logTo?: NodeJS.WritableStream;
  logLevel?: string;
}

export async function startGateway(yaml: string, env: NodeJS.ProcessEnv = process.env, opts: StartOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-gw-'));
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, yaml);
  const snap = loadConfigText(yaml, { path, env: { ...env, PORTCULLIS_PORT: '0' } });
  const holder = new SnapshotHolder(snap);
  const log = opts.logTo ? createLogger(opts.logLevel ?? 'trace', opts.logTo, { envOverride: false }) : createLogger('silent');
  const store = await openStore({ kind: 'memory', dataDir: dir });
  const gateway = createGateway(holder, log, store);
  const url = await gateway.listen();
  let version = snap.version;
  const t: TestGateway = {
    url,
    mcp: `${url}/mcp`,
    gateway,
    holder,
    store,
    dir,
    reload(next: string) {
      writeFileSync(path, next);
      holder.swap(loadConfigText(next, { path, env: { ...env, PORTCULLIS_PORT: '0' }, version: ++version }));
    },
    async waitHealthy(names, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const body = (await (await fetch(`${url}/readyz`)).json()) as { upstreams: { name: string; health: string }[] };
        const want = names ?? body.upstreams.map((u) => u.name);
        if (want.every((n) => body.upstreams.some((u) => u.name === n && u.health === 'healthy'))) {
          // Let the catalogue rebuild that follows the last health change land.
          await new Promise((r) => setTimeout(r, 20));
          return;
        }
        if (Date.now() > deadline) throw new Error(`upstreams not healthy in time: ${JSON.stringify(body.upstreams)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await gateway.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Absolute path of a file in the repository. */
export const repoPath = (...parts: string[]): string => join(new URL('../..', import.meta.url).pathname, ...parts);

/** argv for running a TypeScript fixture as a child process. */
export const tsNode = (file: string): string[] => ['--import', 'tsx', repoPath(file)];

/** Issues an API key (for `x-api-key` or `Authorization: Bearer`) on a running test gateway; returns the key. */
export async function issueApiKey(gw: TestGateway, name: string, tenant: string, roles: string[] = []): Promise<string> {
  const hashKey = await loadKeyHashKey({ dataDir: gw.dir, storage: 'memory' });
  return (await createApiKey(gw.store.apiKeys, hashKey, { name, tenant, roles, virtualServers: [] })).key;
}
