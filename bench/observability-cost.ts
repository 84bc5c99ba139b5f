/**
 * Per-call cost of observability, in process: the ten `mark()` calls and the `finish()` of one
 * call, with nothing on, metrics on, and metrics plus tracing (every call sampled; the exporter
 * points at a closed loopback port, so spans are built and queued but never sent).
 * Run: node --import tsx bench/observability-cost.ts
 */
import { finish, mark, type Observability } from '../src/observability/call.js';
import { GatewayMetrics } from '../src/observability/metrics.js';
import { Tracing } from '../src/observability/tracing.js';
import { silentLogger } from '../src/observability/logger.js';
import type { CallContext } from '../src/pipeline/context.js';
import type { Route } from '../src/stages/route/route.js';
import type { CallOutcome } from '../src/mcp/jsonrpc.js';

const N = 200_000;
const target = { upstream: 'mock', original: 'echo', exposed: 'mock__echo', def: {} } as never;
const route: Route = { kind: 'upstream', upstream: 'mock', method: 'tools/call', params: {}, target };
const outcome: CallOutcome = { result: { content: [] } };

function ctxFor(observability: Observability | undefined, i: number): CallContext {
  return {
    id: `c-${i}`,
    startedAt: process.hrtime.bigint(),
    view: { name: 'default' },
    request: { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'mock__echo' } },
    client: { era: 'legacy', protocolVersion: '2025-11-25', capabilities: {} },
    log: silentLogger,
    traceparent: undefined,
    runtime: { observability },
    principal: { subject: 'alice', tenant: `t${i % 20}`, roles: [], groups: [], authMethod: 'api-key' },
  } as unknown as CallContext;
}

function run(label: string, observability: Observability | undefined): void {
  const ctxs = Array.from({ length: 1000 }, (_, i) => ctxFor(observability, i));
  const once = (c: CallContext): void => {
    c.obs = undefined;
    c.traceparent = undefined;
    mark(c, 0);
    for (let s = 1; s <= 6; s++) mark(c, s);
    mark(c, 7, route);
    mark(c, 8);
    mark(c, 9);
    finish(c, route, outcome);
  };
  for (let i = 0; i < 20_000; i++) once(ctxs[i % 1000]!); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) once(ctxs[i % 1000]!);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  console.log(`${label.padEnd(28)} ${us.toFixed(3)} µs/call`);
}

const metrics = new GatewayMetrics({ maxTenants: 100 });
const tracing = new Tracing({ otlpEndpoint: 'http://127.0.0.1:9/v1/traces', serviceName: 'bench', sampleRatio: 1, headers: {} }, { scheduledDelayMillis: 60_000 });
run('off', undefined);
run('metrics', { metrics });
run('metrics + tracing (sampled)', { metrics, tracing });
const unsampled = new Tracing({ otlpEndpoint: 'http://127.0.0.1:9/v1/traces', serviceName: 'bench', sampleRatio: 0, headers: {} });
run('metrics + tracing (unsampled)', { metrics, tracing: unsampled });
await tracing.shutdown().catch(() => undefined);
await unsampled.shutdown().catch(() => undefined);
