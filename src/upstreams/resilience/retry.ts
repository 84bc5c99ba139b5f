/**
 * Which calls may be retried, which outcomes count as upstream failures, and the backoff between
 * attempts. Only safe operations are retried: reads (resources/read, prompts/get,
 * completion/complete) and tools the operator names idempotent; any other tools/call reaches the
 * upstream at most once, because a timeout says nothing about whether it ran.
 */
import { ERRORS, gatewayCodeOf } from '../../pipeline/errors.js';
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CompiledRetry } from './compile.js';
import type { Verdict } from './breaker.js';

const SAFE_METHODS = new Set(['resources/read', 'prompts/get', 'completion/complete']);

/** True when this call may be sent again after a failure. */
export function isSafe(method: string, params: Record<string, unknown> | undefined, cfg: CompiledRetry): boolean {
  if (SAFE_METHODS.has(method)) return true;
  if (method !== 'tools/call') return false;
  const name = params?.name;
  return typeof name === 'string' && cfg.idempotentTool(name);
}

/** The gateway's own error codes (by JSON-RPC code) that mean the upstream, not the call, failed. */
const FAILURES = new Map<number, string>(
  (['ERR_UPSTREAM_TIMEOUT', 'ERR_UPSTREAM_PROTOCOL', 'ERR_UPSTREAM_CLOSED', 'ERR_UPSTREAM_UNAVAILABLE'] as const).map((c) => [ERRORS[c].rpc, c]),
);
/** Failures worth another attempt: a protocol error (an oversized or malformed answer) would only repeat. */
const TRANSIENT = new Set(['ERR_UPSTREAM_TIMEOUT', 'ERR_UPSTREAM_CLOSED', 'ERR_UPSTREAM_UNAVAILABLE']);

/** The gateway code of an error outcome the link produced, if it is an upstream failure. */
function failureCode(o: CallOutcome): string | undefined {
  if (!('error' in o)) return undefined;
  const code = FAILURES.get(o.error.code);
  if (code === undefined) return undefined;
  return gatewayCodeOf(o.error) === code ? code : undefined;
}

/**
 * What an outcome tells the breaker: link-made failures are failures; a cancellation is neutral;
 * anything the upstream answered (a result, or a JSON-RPC error it chose) shows it is alive.
 */
export function verdictOf(o: CallOutcome): Verdict {
  if (!('error' in o)) return 'success';
  if (failureCode(o) !== undefined) return 'failure';
  if (gatewayCodeOf(o.error) === 'ERR_CANCELLED') return 'neutral';
  return 'success';
}

/** True when a safe call that ended this way may be tried again. */
export function isTransient(o: CallOutcome): boolean {
  const c = failureCode(o);
  return c !== undefined && TRANSIENT.has(c);
}

/** The wait before retry number `n` (1-based): exponential, capped, with jitter in [50 %, 100 %]. */
export function backoffMs(n: number, cfg: CompiledRetry, random: () => number = Math.random): number {
  const step = Math.min(cfg.maxDelayMs, cfg.initialDelayMs * 2 ** Math.min(n - 1, 30));
  return Math.round(step * (0.5 + 0.5 * random()));
}
