/** What a counter store answers for one call: nothing (within every limit) or the limit it hit. */
import type { CompiledRule } from '../stages/rate-limit/compile.js';

export interface Refusal {
  kind: 'rate' | 'quota';
  rule: string;
  /** When a retry can first succeed, in milliseconds from now (at least 1). */
  retryAfterMs: number;
}

/** The store a limiter counts in; `take` consumes `cost` from every key only if all have room. */
export interface CounterStore {
  take(rules: readonly CompiledRule[], keys: readonly string[], cost: number): Refusal | undefined | Promise<Refusal | undefined>;
  close(): Promise<void>;
}

/** A quota refusal outranks a rate refusal (its wait is longer); within a kind, the longest wait wins. */
export function worse(a: Refusal | undefined, kind: Refusal['kind'], rule: string, retryAfterMs: number): Refusal {
  const ms = Math.max(1, Math.ceil(retryAfterMs));
  if (a === undefined) return { kind, rule, retryAfterMs: ms };
  if (a.kind === 'quota' && kind === 'rate') return a;
  if (a.kind === kind && a.retryAfterMs >= ms) return a;
  return { kind, rule, retryAfterMs: ms };
}
