/**
 * Process entry: env → config → leftover reaper and child ledger → store → gateway → listen;
 * signals. Every exit path stops the upstreams and reaps every child process (security-checklist
 * D1); children of an earlier gateway that was SIGKILLed are reaped at start (Linux, child-ledger.ts).
 */
import { mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { loadConfigFile } from './config/load.js';
import { SnapshotHolder } from './config/holder.js';
import { watchConfig } from './config/watch.js';
import { createLogger } from './observability/logger.js';
import { openStore } from './storage/index.js';
import { createGateway } from './gateway.js';
import { killAllNow, liveChildCount, reapAll, setChildLedger, watchParent } from './upstreams/children.js';
import { ChildLedger, openRunDir, reapOrphans } from './upstreams/child-ledger.js';
import type { AuthMode } from './auth/compile.js';

const BANNER: Record<AuthMode, string> = {
  open: '(open: loopback only, no authentication, for local use)',
  none: '(WARNING: authentication is off, `auth: none`)',
  required: '(authentication required: bearer token or API key)',
};

export async function main(opts: { configPath: string }): Promise<void> {
  const snap = loadConfigFile(opts.configPath);
  const log = createLogger(snap.logLevel);
  // Before any upstream starts: reap what gateways that died without cleaning up (SIGKILL, OOM
  // kill) left running, then record our own children the same way (Linux only; bounded, ~3 s).
  const runDir = openRunDir(log);
  let ledger: ChildLedger | undefined;
  if (runDir) {
    await reapOrphans(runDir, log);
    const own = new ChildLedger(runDir, log);
    setChildLedger(own);
    // Any exit that runs hooks (clean, process.exit, a failed start) removes it: killAllNow,
    // registered below, SIGKILLs whatever is still tracked on the same exit.
    process.once('exit', () => own.close());
    ledger = own;
  }
  const holder = new SnapshotHolder(snap);
  if (snap.gateway.storage === 'sqlite') mkdirSync(snap.gateway.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({ kind: snap.gateway.storage, dataDir: snap.gateway.dataDir, logger: log });
  const gateway = createGateway(holder, log, store);
  const watcher = watchConfig(opts.configPath, holder, log);

  let stopping: Promise<void> | undefined;
  let markStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const stop = (why: string, code = 0): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'gateway.stopping');
      const hardStop = setTimeout(() => {
        void reapAll(0).finally(() => process.exit(code || 1));
      }, snap.gateway.shutdownGraceMs + 10_000);
      hardStop.unref();
      await watcher.close().catch(() => undefined);
      await gateway.close().catch((e: unknown) => log.error({ err: e }, 'gateway.close_failed'));
      await reapAll(2_000);
      if (liveChildCount() === 0) ledger?.close();
      await store.close().catch(() => undefined);
      log.info('gateway.stopped');
      process.exitCode = code;
      markStopped();
    })();
    return stopping;
  };
  // A second signal while stopping (a second Ctrl-C) means "now": children are detached, so the
  // terminal's signal never reaches them, and a death by signal runs no exit hook. Kill every
  // child's process group, then exit with the signal's conventional status.
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping === undefined) return void stop(sig);
    log.warn({ signal: sig }, 'gateway.forced_stop');
    killAllNow();
    process.exit(128 + (constants.signals[sig] ?? 0));
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, onSignal);
  // If whoever started us dies, we must not outlive it with a tree of children (no orphans).
  const unwatch = watchParent(() => void stop('parent process exited'));
  // Last resort on any exit path: no child outlives the gateway (SIGKILL is synchronous).
  process.once('exit', () => killAllNow());
  process.once('uncaughtException', (e) => {
    log.fatal({ err: e }, 'gateway.crashed');
    void stop('uncaught exception', 1);
  });

  let url: string;
  try {
    url = await gateway.listen();
  } catch (e) {
    // e.g. the port is taken: release everything already started, then report.
    await stop('listen failed', 1);
    unwatch();
    throw e;
  }
  log.info(
    { url, mcp: `${url}/mcp`, auth: snap.auth.mode, upstreams: snap.upstreams.map((u) => u.name), virtualServers: snap.virtualServers.map((v) => `${url}/servers/${v.name}/mcp`) },
    'gateway.listening',
  );
  process.stderr.write(`Portcullis listening on ${url}/mcp ${BANNER[snap.auth.mode]}\n`);
  if (!snap.policy.enabled) {
    // Without a policy section there is no policy stage: say so where an operator looks first.
    log.warn({}, 'policy.none');
    process.stderr.write('No `policy` section: every principal may call every tool its tenant can see (docs/policy.md)\n');
  }
  await stopped;
  unwatch();
}
