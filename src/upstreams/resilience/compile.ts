/** Compiles the `resilience` and `overload` sections once, so the hot path only reads numbers and matchers. */
import { compileGlob, type GlobMatcher } from '../../config/glob.js';
import { parseByteSize, parseDuration } from '../../config/units.js';
import type { OverloadConfigT, ResilienceConfigT } from './config.js';

export interface CompiledRetry {
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  maxElapsedMs: number;
  /** Matches the upstream's own tool names whose calls may be retried. */
  idempotentTool: GlobMatcher;
}

export interface CompiledBreaker {
  enabled: boolean;
  consecutiveFailures: number;
  /** A fraction 0..1; 0 disables the rate rule. */
  failureRate: number;
  minimumCalls: number;
  windowMs: number;
  openForMs: number;
  halfOpenProbes: number;
}

export interface CompiledBulkhead {
  /** 0: unlimited. */
  maxInFlight: number;
  queue: number;
  queueTimeoutMs: number;
}

export interface CompiledReadCache {
  /** False when no URI glob is configured: the cache is never consulted. */
  enabled: boolean;
  uri: GlobMatcher;
  ttlMs: number;
  scope: 'private' | 'public';
  maxEntries: number;
  maxBytes: number;
  maxEntryBytes: number;
}

export interface CompiledResilience {
  retry: CompiledRetry;
  breaker: CompiledBreaker;
  bulkhead: CompiledBulkhead;
  cache: CompiledReadCache;
}

export interface CompiledOverload {
  /** 0: the lag rule is off. */
  lagMs: number;
  /** A fraction 0..1 of the heap limit; 0: the heap rule is off. */
  heapFraction: number;
  /** A fraction 0..1 of each threshold below which shedding stops. */
  recoverFraction: number;
  sampleIntervalMs: number;
}

export function compileResilience(cfg: ResilienceConfigT): CompiledResilience {
  const { retry, breaker, bulkhead, cache } = cfg;
  return {
    retry: {
      attempts: retry.attempts,
      initialDelayMs: parseDuration(retry.initialDelay),
      maxDelayMs: parseDuration(retry.maxDelay),
      maxElapsedMs: parseDuration(retry.maxElapsed),
      idempotentTool: compileGlob(retry.idempotentTools),
    },
    breaker: {
      enabled: breaker.enabled,
      consecutiveFailures: breaker.consecutiveFailures,
      failureRate: breaker.failureRate / 100,
      minimumCalls: breaker.minimumCalls,
      windowMs: Math.max(1, parseDuration(breaker.window)),
      openForMs: parseDuration(breaker.openFor),
      halfOpenProbes: breaker.halfOpenProbes,
    },
    bulkhead: { maxInFlight: bulkhead.maxInFlight, queue: bulkhead.queue, queueTimeoutMs: parseDuration(bulkhead.queueTimeout) },
    cache: {
      enabled: cache.resources.length > 0,
      uri: compileGlob(cache.resources),
      ttlMs: parseDuration(cache.ttl),
      scope: cache.scope,
      maxEntries: cache.maxEntries,
      maxBytes: parseByteSize(cache.maxBytes),
      maxEntryBytes: parseByteSize(cache.maxEntryBytes),
    },
  };
}

export function compileOverload(cfg: OverloadConfigT): CompiledOverload {
  return {
    lagMs: parseDuration(cfg.eventLoopLag),
    heapFraction: cfg.heapUsedPercent / 100,
    recoverFraction: cfg.recoverAt / 100,
    sampleIntervalMs: Math.max(10, parseDuration(cfg.sampleInterval)),
  };
}
