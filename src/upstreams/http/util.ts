/** Small helpers shared by the HTTP links. */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { GatewayError } from '../../pipeline/errors.js';
import type { CallOutcome } from '../../mcp/jsonrpc.js';

/** Sleeps, resolving early (without throwing) when `signal` aborts. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    /* aborted: the caller re-checks its state */
  }
}

export const errorOutcome = (e: GatewayError): CallOutcome => ({ error: e.toRpcError() });

/** The longest wait a server's `retry:` may impose on us before resuming a stream. */
export const MAX_RETRY_WAIT_MS = 2_000;

/** Exponential backoff with a ceiling, for reconnecting long-lived streams. */
export const backoffMs = (failures: number): number => Math.min(5_000, 200 * 2 ** Math.min(failures, 5));

/**
 * A link's lifetime signal is shared by every concurrent message POST and stream: more than
 * Node's default of 10 listeners is normal load (e.g. 20 cancellations at once), not a leak.
 */
export function lifetimeController(): AbortController {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  return ac;
}
