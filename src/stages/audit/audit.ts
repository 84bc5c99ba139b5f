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
import { ERRORS, GatewayError, type ErrorCode } from '../../pipeline/errors.js';
import type { Route } from '../route/route.js';
import { bound, namesDigest, payloadDigest, type EventType } from '../../audit/records.js';

/** Methods whose decision record must be durable before the call is forwarded. */
export const SIDE_EFFECTING: ReadonlySet<string> = new Set(['tools/call']);

/** Methods that reach an upstream and get decision + outcome records. */
const AUDITED: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'completion/complete', 'resources/read', 'resources/subscribe', 'resources/unsubscribe']);

const CODE_BY_RPC = new Map<number, ErrorCode>();
for (const [k, v] of Object.entries(ERRORS)) if (v.rpc < -31000 && v.rpc > -32000 && !CODE_BY_RPC.has(v.rpc)) CODE_BY_RPC.set(v.rpc, k as ErrorCode);

function actorOf(ctx: CallContext): Record<string, unknown> {
  const p = ctx.principal;
  // Keys in JCS order: the writer's canonical() then takes its fast path.
  const a: Record<string, unknown> = { authn: p.authMethod };
  if (p.clientId !== undefined) a.client_id = bound(p.clientId);
  if (p.issuer !== undefined) a.issuer = bound(p.issuer);
  a.sub = bound(p.subject);
  a.tenant = bound(p.tenant);
  return a;
}

function kindOf(method: string): string {
  if (method === 'tools/call') return 'tool';
  if (method === 'prompts/get') return 'prompt';
  if (method === 'completion/complete') return 'completion';
  return 'resource';
}

function targetOf(ctx: CallContext, r: Route | undefined): Record<string, unknown> {
  const method = ctx.request.method;
  const params = ctx.request.params ?? {};
  // Keys in JCS order (kind, method, prompt, tool, upstream, uri, vserver).
  const t: Record<string, unknown> = { kind: kindOf(method), method };
  if (method === 'prompts/get') t.prompt = bound(r?.kind === 'upstream' && r.target ? r.target.exposed : params.name);
  if (method === 'tools/call') t.tool = bound(r?.kind === 'upstream' && r.target ? r.target.exposed : params.name);
  if (r?.kind === 'upstream') t.upstream = bound(r.upstream, 64);
  if (typeof params.uri === 'string') {
    // A URI can carry secrets (query strings): its scheme names the kind of thing, the HMAC binds it.
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]{0,31}):/.exec(params.uri);
    t.uri = { hmac_sha256: '', scheme: m ? m[1] : '' };
  }
  t.vserver = bound(ctx.view.name, 64);
  return t;
}

function traceOf(ctx: CallContext): string | undefined {
  const tp = ctx.traceparent;
  return tp !== undefined && tp.length >= 35 ? tp.slice(3, 35) : undefined;
}

function argsOf(ctx: CallContext, key: Buffer): unknown {
  const params = ctx.request.params ?? {};
  const method = ctx.request.method;
  if (method === 'tools/call' || method === 'prompts/get') return payloadDigest(key, params.arguments ?? {});
  if (method === 'completion/complete') return payloadDigest(key, params.argument ?? {});
  return undefined;
}

function decisionRecord(ctx: CallContext, r: Route | undefined, key: Buffer, result: string, code: string | undefined, rule: unknown, reason: unknown): Record<string, unknown> {
  const rules: string[] = [];
  const reasons: string[] = [];
  if (ctx.decision?.rule !== undefined) rules.push(bound(ctx.decision.rule, 128));
  else if (typeof rule === 'string') rules.push(bound(rule, 128));
  if (ctx.decision?.reason !== undefined) reasons.push(bound(ctx.decision.reason));
  else if (typeof reason === 'string') reasons.push(bound(reason));
  const target = targetOf(ctx, r);
  const uri = target.uri as { hmac_sha256: string } | undefined;
  if (uri) uri.hmac_sha256 = payloadDigest(key, ctx.request.params?.uri).hmac_sha256;
  const args = argsOf(ctx, key);
  const trace = traceOf(ctx);
  return {
    actor: actorOf(ctx),
    ...(args !== undefined ? { args } : {}),
    call: ctx.id,
    decision: { ...(code !== undefined ? { code } : {}), reasons, result, rules },
    target,
    ...(trace !== undefined ? { trace } : {}),
  };
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
  const fields = decisionRecord(ctx, r, w.hmacKey, 'allow', undefined, undefined, undefined);
  ctx.auditDecided = true;
  if (!side) {
    w.append('tool.call.decision', fields, false);
    return;
  }
  // The batch's shared promise: one rejection handler per call, no Promise of the call's own
  // unless the write fails.
  return w.appendDurable('tool.call.decision', fields).catch((e: unknown) => {
    ctx.log.warn({ call: ctx.id, err: (e as Error).message }, 'audit.refused_call');
    throw new GatewayError('ERR_AUDIT_UNAVAILABLE', undefined, { data: { retryAfterMs } });
  });
}

function outcomeType(code: string | undefined): EventType {
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
  const code = err ? (typeof data.portcullis === 'string' ? data.portcullis : CODE_BY_RPC.get(err.code)) : undefined;
  if (!ctx.auditDecided) {
    ctx.auditDecided = true;
    const result = code === 'ERR_APPROVAL_REQUIRED' ? 'require_approval' : 'deny';
    w.append('tool.call.decision', decisionRecord(ctx, r, w.hmacKey, result, code ?? 'ERR_INTERNAL', data.rule, err?.message), false);
    if (code === 'ERR_RATE_LIMITED' || code === 'ERR_QUOTA_EXCEEDED') {
      w.append('ratelimit.exceeded', { call: ctx.id, actor: actorOf(ctx), code, ...(typeof data.rule === 'string' ? { rule: bound(data.rule, 128) } : {}), method }, false);
    }
  }
  const ms = Math.round(Number(process.hrtime.bigint() - ctx.startedAt) / 1000) / 1000;
  const target: Record<string, unknown> = { kind: kindOf(method) };
  if (r?.kind === 'upstream') target.upstream = bound(r.upstream, 64);
  if (err) {
    w.append(outcomeType(code), { call: ctx.id, target, error: { code: err.code, ...(code !== undefined ? { portcullis: code } : {}) }, ms }, false);
    return;
  }
  const result = (outcome as { result: Record<string, unknown> }).result;
  let d: ReturnType<typeof payloadDigest>;
  try {
    d = payloadDigest(w.hmacKey, result);
  } catch {
    // A result too deep to serialise never reaches the client either: the reply turns it into
    // ERR_UPSTREAM_PROTOCOL (http/call-reply.ts relayable), so that is the outcome on record.
    w.append('tool.call.error', { call: ctx.id, target, error: { code: ERRORS.ERR_UPSTREAM_PROTOCOL.rpc, portcullis: 'ERR_UPSTREAM_PROTOCOL' }, ms }, false);
    return;
  }
  const rec: Record<string, unknown> = { bytes: d.bytes, hmac_sha256: d.hmac_sha256, is_error: result.isError === true };
  if (d.keys) rec.keys = d.keys;
  w.append('tool.call.result', { call: ctx.id, ms, result: rec, target }, false);
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
