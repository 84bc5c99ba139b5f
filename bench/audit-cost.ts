/**
 * Micro-benchmark of the audit stage's CPU cost per 1 KB tools/call (not a test: run it by hand,
 * `node --import tsx bench/audit-cost.ts`). It drives auditDecision (durable, awaited
 * in waves of 64 concurrent calls, as group commit sees them) and auditOutcome with a 1 KB
 * result, and prints gateway CPU µs per call (process.cpuUsage, user + system) with auditing
 * on, against the same loop with auditing off.
 */
import { rmSync } from 'node:fs';
import { AuditService } from '../src/audit/service.js';
import { auditDecision, auditOutcome } from '../src/stages/audit/audit.js';
import type { CallContext } from '../src/pipeline/context.js';
import type { Route } from '../src/stages/route/route.js';
import { silentLogger } from '../src/observability/logger.js';
import { auditCfg, tempDir } from '../test/unit/audit/writer-helpers.js';

const args = { query: 'q'.repeat(300), path: '/srv/data/reports/2026/q3.csv', options: Array.from({ length: 12 }, (_, i) => ({ id: i, label: `option-${i}`, on: i % 2 === 0 })), limit: 50 };
const result = { content: [{ type: 'text', text: 'r'.repeat(900) }], isError: false };
const route: Route = { kind: 'upstream', upstream: 'mock', method: 'tools/call', params: { name: 'search', arguments: args }, target: { upstream: 'mock', original: 'search', exposed: 'mock__search', def: {} as never } };

function ctxOf(i: number, audit: AuditService | undefined): CallContext {
  return {
    id: `bench-${i}`,
    startedAt: process.hrtime.bigint(),
    request: { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'mock__search', arguments: args } },
    view: { name: 'default' },
    principal: { subject: 'user:alice', tenant: 'acme', roles: [], groups: [], authMethod: 'api-key', clientId: 'ide-7f3' },
    runtime: { audit },
    log: silentLogger,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  } as unknown as CallContext;
}

async function run(audit: AuditService | undefined, calls: number): Promise<number> {
  const wave = 64;
  const t0 = process.cpuUsage();
  for (let i = 0; i < calls; i += wave) {
    await Promise.all(
      Array.from({ length: wave }, async (_, j) => {
        const ctx = ctxOf(i + j, audit);
        const p = auditDecision(ctx, route);
        if (p) await p;
        auditOutcome(ctx, route, { result });
      }),
    );
  }
  await audit?.drain();
  const d = process.cpuUsage(t0);
  if (process.env.BENCH_SPLIT) console.log({ user: d.user / calls, system: d.system / calls });
  return (d.user + d.system) / calls;
}

const dir = tempDir();
const svc = new AuditService(auditCfg(dir), silentLogger);
svc.open();
await run(svc, 5_000); // warm-up
await run(undefined, 5_000);
const off = await run(undefined, 20_000);
const before = svc.stats().logs['t-acme'];
const on = await run(svc, 20_000);
const after = svc.stats().logs['t-acme'];
await svc.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ argsBytes: JSON.stringify(args).length, resultBytes: JSON.stringify(result).length, cpuUsPerCallOff: +off.toFixed(2), cpuUsPerCallOn: +on.toFixed(2), addedUsPerCall: +(on - off).toFixed(2), syncsPerCall: after && before ? +((after.syncs - before.syncs) / 20_000).toFixed(4) : null, recordsPerSync: after && before ? +((after.records - before.records) / Math.max(1, after.syncs - before.syncs)).toFixed(1) : null }));
