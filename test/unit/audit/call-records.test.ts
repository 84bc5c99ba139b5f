/**
 * The decision and outcome records of a call are serialised straight to canonical JSON
 * (src/stages/audit/call-records.ts). These tests drive the audit stage with generated,
 * hostile field values (quotes, control characters, U+2028, lone surrogates, long strings) and
 * check every line written: it is exactly the `canonicalize` package's form of itself, it
 * carries the values the stage was given (bounded), and its HMACs are those of the payloads.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { AuditService } from '../../../src/audit/service.js';
import { canonicalReference } from '../../../src/audit/canonical.js';
import { bound, tenantLogId } from '../../../src/audit/records.js';
import { auditDecision, auditOutcome } from '../../../src/stages/audit/audit.js';
import { msText } from '../../../src/stages/audit/call-records.js';
import { relayable } from '../../../src/http/call-reply.js';
import type { CallOutcome } from '../../../src/mcp/jsonrpc.js';
import type { CallContext } from '../../../src/pipeline/context.js';
import type { Route } from '../../../src/stages/route/route.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { ERRORS, GatewayError, type ErrorCode } from '../../../src/pipeline/errors.js';
import { auditCfg, records, segmentLines, tempDir } from './writer-helpers.js';

const dir = tempDir();
const svc = new AuditService(auditCfg(dir), silentLogger);
svc.open();
after(async () => {
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Input {
  tenant: string;
  subject: string;
  clientId: string | undefined;
  tool: string;
  upstream: string;
  view: string;
  id: string;
  args: Record<string, unknown>;
  rule: string | undefined;
  reason: string | undefined;
  trace: boolean;
  outcome: { kind: 'result'; text: string; isError: boolean } | { kind: 'error'; code: number; portcullis: string | undefined; fromUpstream: boolean };
}

const hostile = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('a"b\\c', 'line\nbreak', '\u2028\u2029', '\u001b[31m|=', '\ud800', 'x'.repeat(300)));

const input: fc.Arbitrary<Input> = fc.record({
  tenant: fc.constantFrom('acme', 'beta corp', 'é"t'),
  subject: hostile,
  clientId: fc.option(hostile, { nil: undefined }),
  tool: hostile,
  upstream: hostile,
  view: hostile,
  id: fc.string({ minLength: 1, maxLength: 20 }),
  args: fc.dictionary(hostile, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  rule: fc.option(hostile, { nil: undefined }),
  reason: fc.option(hostile, { nil: undefined }),
  trace: fc.boolean(),
  outcome: fc.oneof(
    fc.record({ kind: fc.constant('result' as const), text: hostile, isError: fc.boolean() }),
    fc.record({ kind: fc.constant('error' as const), code: fc.integer({ min: -32800, max: 0 }), portcullis: fc.option(fc.constantFrom('ERR_UPSTREAM_TIMEOUT', 'ERR_CANCELLED', 'ERR_POLICY_DENIED'), { nil: undefined }), fromUpstream: fc.boolean() }),
  ),
});

interface DecisionRec {
  type: string;
  actor: unknown;
  target: unknown;
  args: { hmac_sha256: string; bytes: number };
  decision: { result: string; rules: string[]; reasons: string[] };
  trace?: string;
}
interface OutcomeRec {
  type: string;
  ms: number;
  target: unknown;
  result: unknown;
  error: { code: number; portcullis?: string };
}

function ctxOf(x: Input, decision: { rule?: string; reason?: string } | undefined): CallContext {
  return {
    id: x.id,
    startedAt: process.hrtime.bigint(),
    request: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: x.tool, arguments: x.args } },
    view: { name: x.view },
    principal: { subject: x.subject, tenant: x.tenant, roles: [], groups: [], authMethod: 'api-key', ...(x.clientId !== undefined ? { clientId: x.clientId } : {}) },
    runtime: { audit: svc },
    log: silentLogger,
    ...(x.trace ? { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } : {}),
    ...(decision ? { decision } : {}),
  } as unknown as CallContext;
}

function routeOf(x: Input): Route {
  return { kind: 'upstream', upstream: x.upstream, method: 'tools/call', params: { name: x.tool, arguments: x.args }, target: { upstream: x.upstream, original: 'orig', exposed: x.tool, def: {} as never } } as Route;
}

function hmac(tenant: string, text: string): string {
  return createHmac('sha256', readFileSync(join(dir, 'keys', `${tenantLogId(tenant)}.hmac`))).update(text).digest('hex');
}

describe('call records', () => {
  it('msText writes µs as milliseconds exactly as String(us / 1000) does', () => {
    for (const us of [0, 1, 5, 10, 99, 100, 999, 1000, 1001, 1010, 1100, 12_345, 120_000, 999_999, 2 ** 31, 2 ** 40 + 7]) assert.equal(msText(us), String(us / 1000), String(us));
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (us) => msText(us) === String(us / 1000)),
      { numRuns: 2000 },
    );
  });

  it('allowed calls: every line is canonical JSON and carries the bounded inputs and payload HMACs', async () => {
    const seen: { x: Input; tenant: string }[] = [];
    await fc.assert(
      fc.asyncProperty(input, async (generated) => {
        const x = { ...generated, id: `c${seen.length}-${generated.id}` }; // call ids are unique, as the gateway's are
        const ctx = ctxOf(x, x.rule !== undefined ? { rule: x.rule, ...(x.reason !== undefined ? { reason: x.reason } : {}) } : undefined);
        const r = routeOf(x);
        const p = auditDecision(ctx, r);
        assert.ok(p, 'a tools/call decision is durable');
        await p;
        let outcome: CallOutcome;
        if (x.outcome.kind === 'result') {
          const result = { content: [{ type: 'text', text: x.outcome.text }], isError: x.outcome.isError };
          outcome = { result };
          // Half the results go through the reply first, as in handleCall; the others are serialised by the stage.
          if (x.outcome.text.length % 2 === 0) relayable({ jsonrpc: '2.0', id: 1, result });
        } else {
          const o = x.outcome;
          // The gateway's own errors come from toRpcError; an upstream may put the same data in its answer.
          outcome = {
            error:
              o.portcullis !== undefined && !o.fromUpstream
                ? Object.assign(new GatewayError(o.portcullis as ErrorCode, 'm').toRpcError(), { code: o.code })
                : { code: o.code, message: 'm', ...(o.portcullis ? { data: { portcullis: o.portcullis } } : {}) },
          };
        }
        auditOutcome(ctx, r, outcome);
        seen.push({ x, tenant: x.tenant });
      }),
      { numRuns: 120 },
    );
    await svc.drain();
    const byCall = new Map<string, Record<string, unknown>[]>();
    for (const tenant of new Set(seen.map((s) => s.tenant))) {
      const lines = segmentLines(dir, tenantLogId(tenant));
      for (const line of lines) assert.equal(line, canonicalReference(JSON.parse(line)), line);
      for (const rec of records(dir, tenantLogId(tenant))) {
        if (typeof rec.call !== 'string') continue;
        const list = byCall.get(`${tenant}\0${rec.call}`) ?? [];
        list.push(rec);
        byCall.set(`${tenant}\0${rec.call}`, list);
      }
    }
    for (const { x } of seen) {
      const recs = byCall.get(`${x.tenant}\0${bound(x.id)}`) ?? [];
      const dec = recs.find((r) => r.type === 'tool.call.decision') as DecisionRec | undefined;
      assert.ok(dec, `decision of ${x.id}`);
      assert.deepEqual(dec.actor, { authn: 'api-key', ...(x.clientId !== undefined ? { client_id: bound(x.clientId) } : {}), sub: bound(x.subject), tenant: bound(x.tenant) });
      assert.deepEqual(dec.target, { kind: 'tool', method: 'tools/call', tool: bound(x.tool), upstream: bound(x.upstream, 64), vserver: bound(x.view, 64) });
      assert.equal(dec.args.hmac_sha256, hmac(x.tenant, JSON.stringify(x.args)));
      assert.equal(dec.args.bytes, Buffer.byteLength(JSON.stringify(x.args)));
      assert.equal(dec.decision.result, 'allow');
      assert.deepEqual(dec.decision.rules, x.rule !== undefined ? [bound(x.rule, 128)] : []);
      assert.deepEqual(dec.decision.reasons, x.rule !== undefined && x.reason !== undefined ? [bound(x.reason)] : []);
      assert.equal(dec.trace, x.trace ? '4bf92f3577b34da6a3ce929d0e0e4736' : undefined);
      const out = recs.find((r) => r.type !== 'tool.call.decision') as OutcomeRec | undefined;
      assert.ok(out, `outcome of ${x.id}`);
      assert.ok(typeof out.ms === 'number' && out.ms >= 0);
      assert.deepEqual(out.target, { kind: 'tool', upstream: bound(x.upstream, 64) });
      if (x.outcome.kind === 'result') {
        const text = JSON.stringify({ content: [{ type: 'text', text: x.outcome.text }], isError: x.outcome.isError });
        assert.equal(out.type, 'tool.call.result');
        assert.deepEqual(out.result, { bytes: Buffer.byteLength(text), hmac_sha256: hmac(x.tenant, text), is_error: x.outcome.isError, keys: ['content', 'isError'] });
      } else {
        // An upstream's error claiming a gateway code is recorded as the upstream's own.
        const p = x.outcome.fromUpstream ? undefined : x.outcome.portcullis;
        assert.equal(out.type, p === 'ERR_UPSTREAM_TIMEOUT' ? 'tool.call.timeout' : p === 'ERR_CANCELLED' ? 'tool.call.cancelled' : 'tool.call.error');
        assert.equal(out.error.code, x.outcome.code);
        assert.equal(out.error.portcullis, p);
      }
    }
  });

  it('a call refused before the audit stage gets a deny decision with its code, rule and reason (the error message)', async () => {
    const x: Input = { tenant: 'acme', subject: 'u"1', clientId: undefined, tool: 't', upstream: 'up', view: 'v', id: 'refused-1', args: { a: 1 }, rule: undefined, reason: undefined, trace: false, outcome: { kind: 'error', code: -32001, portcullis: 'ERR_POLICY_DENIED', fromUpstream: false } };
    auditOutcome(ctxOf(x, undefined), routeOf(x), { error: new GatewayError('ERR_POLICY_DENIED', 'because "x"', { data: { rule: 'deny-\u2028rule' } }).toRpcError() });
    await svc.drain();
    const lines = segmentLines(dir, 't-acme');
    const mine = lines.filter((l) => (JSON.parse(l) as { call?: string }).call === 'refused-1');
    assert.equal(mine.length, 2);
    for (const l of mine) assert.equal(l, canonicalReference(JSON.parse(l)));
    const dec = JSON.parse(mine[0]!) as DecisionRec;
    assert.equal(dec.type, 'tool.call.decision');
    assert.deepEqual(dec.decision, { code: 'ERR_POLICY_DENIED', reasons: ['because "x"'], result: 'deny', rules: ['deny-\u2028rule'] });
    const out = JSON.parse(mine[1]!) as OutcomeRec;
    assert.equal(out.type, 'tool.call.error');
    assert.deepEqual(out.error, { code: ERRORS.ERR_POLICY_DENIED.rpc, portcullis: 'ERR_POLICY_DENIED' });
  });
});
