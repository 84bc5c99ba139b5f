/**
 * The audit stage (docs/audit.md). `auditDecision` sequences the decision record of every call
 * bound for an upstream; for a side-effecting call it returns a Promise that settles once the
 * record is durable (write-ahead: nothing is forwarded before), and refuses the call with
 * ERR_AUDIT_UNAVAILABLE (503) when the log cannot be written. `auditOutcome` records the
 * outcome, the decision of calls refused before this stage (policy, scope, rate limit,
 * argument guards, unknown names) and `tool.list`.
 *
 * Side-effecting: `tools/call` only. `prompts/get`, `completion/complete`, `resources/read`
 * and `resources/(un)subscribe` read or prepare text and change nothing upstream by contract, so
 * their records are sequenced the same way but not awaited. Payloads are never recorded: only
 * argument key names, byte length and an HMAC under the tenant's key.
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CallContext } from '../../pipeline/context.js';
import { ERRORS, GatewayError, gatewayCodeOf } from '../../pipeline/errors.js';
import type { Route } from '../route/route.js';
import { bound, namesDigest } from '../../audit/records.js';
import type { RawEventType } from '../../audit/writer.js';
import { resultTextOf } from '../../mcp/result-text.js';
import { decisionMembers, errorMembers, resultMembers } from './call-records.js';

/** Methods whose decision record must be durable before the call is forwarded. */
export const SIDE_EFFECTING: ReadonlySet<string> = new Set(['tools/call']);

/** Methods that reach an upstream and get decision + outcome records. */
const AUDITED: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'completion/complete', 'resources/read', 'resources/subscribe', 'resources/unsubscribe']);


function actorOf(ctx: CallContext): Record<string, unknown> {
  const p = ctx.principal;
  const a: Record<string, unknown> = { authn: p.authMethod };
  if (p.clientId !== undefined) a.client_id = bound(p.clientId);
  if (p.issuer !== undefined) a.issuer = bound(p.issuer);
  a.sub = bound(p.subject);
  a.tenant = bound(p.tenant);
  return a;
}

/**
 * The decision record, before the call is forwarded. Returns a Promise (to be awaited) only
 * for side-effecting calls with auditing on.
 */
export function auditDecision(ctx: CallContext, r: Route): void | Promise<void> {
  const audit = ctx.runtime.audit;
  if (!audit?.enabled || r.kind !== 'upstream' || !AUDITED.has(ctx.request.method)) return;
  const tenant = ctx.principal.tenant;
  const side = SIDE_EFFECTING.has(ctx.request.method);
  const retryAfterMs = audit.cfg.retryAfterMs;
  if (side) {
    const reason = audit.unavailable(tenant);
    if (reason !== undefined) {
      ctx.log.warn({ call: ctx.id, reason }, 'audit.refused_call');
      throw new GatewayError('ERR_AUDIT_UNAVAILABLE', undefined, { data: { retryAfterMs } });
    }
  }
  const w = audit.tenantLog(tenant);
  if (!w) {
    if (side) throw new GatewayError('ERR_AUDIT_UNAVAILABLE', undefined, { data: { retryAfterMs } });
    return;
  }
  const m = decisionMembers(ctx, r, w.mac, 'allow', undefined, undefined, undefined);
  ctx.auditDecided = true;
  const durable = w.appendRaw('tool.call.decision', m.a, '', '', m.d, side);
  if (!durable) return;
  // The batch's shared promise: one rejection handler per call, no Promise of the call's own
  // unless the write fails.
  return durable.catch((e: unknown) => {
    ctx.log.warn({ call: ctx.id, err: (e as Error).message }, 'audit.refused_call');
    throw new GatewayError('ERR_AUDIT_UNAVAILABLE', undefined, { data: { retryAfterMs } });
  });
}

function outcomeType(code: string | undefined): RawEventType {
  if (code === 'ERR_UPSTREAM_TIMEOUT' || code === 'ERR_REQUEST_TIMEOUT') return 'tool.call.timeout';
  if (code === 'ERR_CANCELLED') return 'tool.call.cancelled';
  return 'tool.call.error';
}

/** The outcome record (never awaited), plus the decision of a call refused before auditDecision. */
export function auditOutcome(ctx: CallContext, r: Route | undefined, outcome: CallOutcome): void {
  const audit = ctx.runtime.audit;
  if (!audit?.enabled) return;
  const method = ctx.request.method;
  if (r?.kind === 'local') {
    if (method === 'tools/list' && 'result' in outcome) listRecord(ctx, outcome.result);
    return;
  }
  if (!AUDITED.has(method)) return;
  const w = audit.tenantLog(ctx.principal.tenant);
  if (!w) return;
  const err = 'error' in outcome ? outcome.error : undefined;
  const data = (err?.data ?? {}) as { portcullis?: unknown; rule?: unknown; reason?: unknown };
  // The gateway's code only for errors it made: an upstream's error is recorded as its own.
  const code = err ? gatewayCodeOf(err) : undefined;
  if (!ctx.auditDecided) {
    ctx.auditDecided = true;
    const result = code === 'ERR_APPROVAL_REQUIRED' ? 'require_approval' : 'deny';
    const m = decisionMembers(ctx, r, w.mac, result, code ?? 'ERR_INTERNAL', data.rule, err?.message);
    w.appendRaw('tool.call.decision', m.a, '', '', m.d, false);
    if (code === 'ERR_RATE_LIMITED' || code === 'ERR_QUOTA_EXCEEDED') {
      w.append('ratelimit.exceeded', { call: ctx.id, actor: actorOf(ctx), code, ...(typeof data.rule === 'string' ? { rule: bound(data.rule, 128) } : {}), method }, false);
    }
  }
  if (err) {
    const m = errorMembers(ctx, r, err.code, code);
    w.appendRaw(outcomeType(code), m.a, m.b, m.c, m.d, false);
    return;
  }
  const result = (outcome as { result: Record<string, unknown> }).result;
  let text = resultTextOf(result);
  if (text === undefined) {
    try {
      text = JSON.stringify(result);
    } catch {
      // A result too deep to serialise never reaches the client either: the reply turns it into
      // ERR_UPSTREAM_PROTOCOL (http/call-reply.ts relayable), so that is the outcome on record.
      const m = errorMembers(ctx, r, ERRORS.ERR_UPSTREAM_PROTOCOL.rpc, 'ERR_UPSTREAM_PROTOCOL');
      w.appendRaw('tool.call.error', m.a, m.b, m.c, m.d, false);
      return;
    }
  }
  const m = resultMembers(ctx, r, w.mac, result, text);
  w.appendRaw('tool.call.result', m.a, m.b, m.c, m.d, false);
}

function listRecord(ctx: CallContext, result: Record<string, unknown>): void {
  const tools = Array.isArray(result.tools) ? (result.tools as { name?: unknown }[]) : [];
  const names = tools.map((t) => String(t.name));
  ctx.runtime.audit?.appendTenant(ctx.principal.tenant, 'tool.list', {
    call: ctx.id,
    actor: actorOf(ctx),
    vserver: bound(ctx.view.name, 64),
    count: names.length,
    names_sha256: namesDigest(names),
    page: typeof ctx.request.params?.cursor === 'string',
  }, false);
}
