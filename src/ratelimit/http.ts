/**
 * HTTP face of the limiter's refusals: which JSON-RPC errors map to 429/503 where the HTTP
 * layer answers one call per POST, and the `Retry-After` value (whole seconds, rounded up)
 * made from the error's `data.retryAfterMs`.
 */
import type { CallOutcome, JsonRpcResponse } from '../mcp/jsonrpc.js';
import { ERRORS } from '../pipeline/errors.js';

/** 429 for rate-limit and quota refusals, 503 for an overloaded gateway or an unwritable audit log; undefined otherwise. */
export function limitStatus(o: CallOutcome): number | undefined {
  if (!('error' in o)) return undefined;
  const c = o.error.code;
  if (c === ERRORS.ERR_RATE_LIMITED.rpc || c === ERRORS.ERR_QUOTA_EXCEEDED.rpc) return 429;
  if (c === ERRORS.ERR_OVERLOADED.rpc || c === ERRORS.ERR_AUDIT_UNAVAILABLE.rpc) return 503;
  return undefined;
}

/** The Retry-After header value of a refused call's response, or undefined when it has none. */
export function retryAfter(response: JsonRpcResponse): string | undefined {
  if (!('error' in response) || !response.error) return undefined;
  const data = response.error.data as { retryAfterMs?: unknown } | undefined;
  const ms = data?.retryAfterMs;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return undefined;
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
