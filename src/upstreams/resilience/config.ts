/**
 * Per-upstream `resilience` (retries, circuit breaker, bulkhead, read cache) and the gateway's
 * `overload` (load shedding) settings. Defaults are on: a gateway with no resilience config
 * already fails fast on a dead upstream and keeps one slow upstream from starving the others.
 */
import { z } from 'zod';
import { ByteSize, TimerDuration } from '../../config/primitives.js';

const Glob = z.string().min(1).max(256);

const Retry = z
  .object({
    attempts: z.number().int().min(0).max(10).default(2).describe('Extra attempts after the first, for safe operations only (resources/read, prompts/get, completion/complete, and tools named in `idempotentTools`). 0 disables retries.'),
    initialDelay: TimerDuration.default('100ms').describe('Backoff before the first retry; doubles each time, with jitter (a random 50–100 % of the step).'),
    maxDelay: TimerDuration.default('2s').describe('Upper bound of one backoff step.'),
    maxElapsed: TimerDuration.default('10s').describe('No retry starts once this much time has passed since the first attempt.'),
    idempotentTools: z
      .array(Glob)
      .max(256)
      .default([])
      .describe("Globs (`*`, `?`) over the upstream's own tool names whose tools/call may be retried. Any other tools/call is never retried."),
  })
  .strict()
  .describe('Retries with exponential backoff and jitter, for timeouts and connection failures of safe operations.');

const Breaker = z
  .object({
    enabled: z.boolean().default(true).describe('Set false to never open the circuit.'),
    consecutiveFailures: z.number().int().min(0).max(10_000).default(5).describe('Open after this many failures in a row (0: no consecutive rule).'),
    failureRate: z.number().min(0).max(100).default(50).describe('Open when at least this percentage of the calls in `window` failed (0: no rate rule) …'),
    minimumCalls: z.number().int().min(1).max(1_000_000).default(20).describe('… and at least this many calls were made in `window`.'),
    window: TimerDuration.default('30s').describe('Sliding window over which the failure rate is measured.'),
    openFor: TimerDuration.default('10s').describe('How long the circuit stays open (calls fail at once with ERR_CIRCUIT_OPEN) before letting probes through.'),
    halfOpenProbes: z.number().int().min(1).max(100).default(1).describe('Calls let through at once while half-open; one success closes the circuit, one failure re-opens it.'),
  })
  .strict()
  .describe('Circuit breaker. Failures are timeouts, connection errors, closed links and protocol errors; JSON-RPC errors the upstream chose to answer and client cancellations are not.');

const Bulkhead = z
  .object({
    maxInFlight: z.number().int().min(0).max(100_000).default(256).describe('Most calls in flight to this upstream at once (0: unlimited).'),
    queue: z.number().int().min(0).max(10_000).default(1000).describe('Calls allowed to wait for a free slot beyond `maxInFlight`; any more get ERR_UPSTREAM_BUSY at once (0: no queue). The default absorbs bursts; a hanging upstream still fails its callers within `queueTimeout`.'),
    queueTimeout: TimerDuration.default('30s').describe('Longest wait in the queue before ERR_UPSTREAM_BUSY.'),
  })
  .strict()
  .describe('Bulkhead: caps the calls one upstream may hold, so a slow upstream cannot starve the others.');

const Cache = z
  .object({
    resources: z
      .array(Glob)
      .max(256)
      .default([])
      .describe('Globs (`*`, `?`) over resource URIs whose resources/read results may be cached. Empty: no read caching.'),
    ttl: TimerDuration.default('60s').describe('Longest time a read stays cached; an upstream `ttlMs` hint shortens it (0 in the hint: not cached).'),
    scope: z
      .enum(['private', 'public'])
      .default('private')
      .describe('Scope of results that carry no `cacheScope` hint: private (per principal) or public (shared by every caller allowed to read it). Results over a non-shared link are always private.'),
    maxEntries: z.number().int().min(1).max(1_000_000).default(1000).describe('Most cached reads for this upstream; the least recently used go first.'),
    maxBytes: ByteSize.default('16mb').describe('Most bytes (serialised results) cached for this upstream.'),
    maxEntryBytes: ByteSize.default('1mb').describe('Results larger than this are not cached.'),
  })
  .strict()
  .describe('Cache of resources/read results. tools/list, prompts/list and resources/list are always served from the gateway catalogue, never forwarded.');

export const ResilienceConfig = z
  .object({
    retry: Retry.prefault({}),
    breaker: Breaker.prefault({}),
    bulkhead: Bulkhead.prefault({}),
    cache: Cache.prefault({}),
  })
  .strict()
  .describe('Retries, circuit breaker, bulkhead and read cache for this upstream (docs/resilience.md).');
export type ResilienceConfigT = z.infer<typeof ResilienceConfig>;

export const OverloadConfig = z
  .object({
    eventLoopLag: TimerDuration.default('500ms').describe('Shed load once the p99 event-loop delay has exceeded this in three consecutive sample intervals (0: never on lag).'),
    heapUsedPercent: z.number().min(0).max(100).default(90).describe('Shed load while the V8 heap in use exceeds this percentage of the heap limit (0: never on heap).'),
    recoverAt: z.number().min(1).max(100).default(80).describe('Hysteresis: shedding stops once every reading is below this percentage of its threshold.'),
    sampleInterval: TimerDuration.default('1s').describe('How often the readings are taken (a timer, never per request).'),
  })
  .strict()
  .describe('Load shedding: POST /mcp answers 503 ERR_OVERLOADED while the gateway itself is overloaded, and recovers by itself.');
export type OverloadConfigT = z.infer<typeof OverloadConfig>;
