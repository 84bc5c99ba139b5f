/**
 * The registry of every live child process the gateway started (security checklist D1: every
 * child is reaped on SIGTERM, SIGINT or a crash of the parent). Process adapters register their
 * children here; the process entry wires signals to `reapAll` and `killAllNow`.
 *
 * If the gateway dies without running any of this (SIGKILL, OOM kill), its children see EOF on
 * stdin when the pipe's last writer goes away, and the stdio transport says servers SHOULD exit
 * then; a child that does not (and whatever it started in its process group) is reaped at the
 * next gateway start instead: on Linux, `main.ts` installs a child ledger (`child-ledger.ts`,
 * `setChildLedger`) that records every tracked child in a per-gateway file, and at start reaps
 * the children listed in files of gateways that are no longer alive. Gateways created in-process
 * (tests) install none and record nothing. `watchParent` covers the other direction: a gateway
 * whose own parent (a supervisor, a terminal) died shuts down instead of lingering as an orphan.
 */

/** What the registry needs from a child. */
export interface TrackedChild {
  readonly pid: number | undefined;
  /** Label for logs: the upstream name. */
  readonly label: string;
  /** Start time from /proc (Linux), read right after spawn: with the pid, names this very process. */
  readonly starttime?: number | undefined;
  /** Graceful stop: EOF, grace, SIGTERM, grace, SIGKILL. Resolves once the child has exited. */
  stop(graceMs: number): Promise<void>;
  /** Immediate SIGKILL, for synchronous exit paths. */
  kill(): void;
}

/** Told of every child tracked and untracked (the child ledger). Must not throw. */
export interface ChildLedgerSink {
  add(c: TrackedChild): void;
  remove(c: TrackedChild): void;
}

const live = new Set<TrackedChild>();
let ledger: ChildLedgerSink | undefined;

/**
 * Installs (or, with undefined, removes) the ledger that records the live children; the children
 * already tracked are added to it at once.
 */
export function setChildLedger(l: ChildLedgerSink | undefined): void {
  ledger = l;
  if (l) for (const c of live) l.add(c);
}

/**
 * Adds a child; returns the function that removes it (call it once the child and its process
 * group are gone).
 */
export function trackChild(c: TrackedChild): () => void {
  live.add(c);
  ledger?.add(c);
  return () => {
    if (live.delete(c)) ledger?.remove(c);
  };
}

/** Pids of the children still alive, for diagnostics and tests. */
export function liveChildPids(): number[] {
  return [...live].map((c) => c.pid).filter((p): p is number => typeof p === 'number');
}

/** Number of tracked children. */
export function liveChildCount(): number {
  return live.size;
}

/**
 * Stops every tracked child in parallel, each with the same grace period, and resolves when all
 * have exited. Safe to call more than once.
 */
export async function reapAll(graceMs: number): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs).catch(() => undefined)));
}

/**
 * SIGKILLs every tracked child synchronously. For `process.on('exit')` and fatal-error handlers,
 * where no asynchronous work can run any more.
 */
export function killAllNow(): void {
  for (const c of live) {
    try {
      c.kill();
    } catch {
      /* already gone */
    }
  }
}

/**
 * Calls `onOrphaned` once when the gateway's parent process goes away (its ppid changes: the
 * kernel re-parents orphans to init or a subreaper). Polls every `intervalMs` on an unref'd timer,
 * so it never keeps the gateway alive. Returns a function that stops watching.
 */
export function watchParent(onOrphaned: () => void, intervalMs = 1000): () => void {
  const original = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === original) return;
    clearInterval(timer);
    onOrphaned();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
