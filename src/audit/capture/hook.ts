/**
 * The pipeline's capture hook, called once per call after its outcome is audited. Cheap when
 * capture is off (a per-snapshot map lookup); otherwise hands the call's references to the
 * CaptureService, which redacts and writes them after the reply. Only calls that forward handed
 * to an upstream link (`ctx.forwarded`) are captured: refusals before that (policy, scope, rate
 * limit, argument checks, audit unavailable, an open breaker, a full bulkhead) and reads served
 * from the read cache leave nothing. Never throws.
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../../stages/route/route.js';
import { captureFor } from './config.js';

/** Methods whose payloads can be captured (they reach an upstream and carry a payload). */
const CAPTURED: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read', 'completion/complete']);

function withoutMeta(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) if (k !== '_meta') out[k] = v;
  return out;
}

/** Records a redacted copy of the call when its endpoint captures. */
export function capturePayload(ctx: CallContext, r: Route | undefined, outcome: CallOutcome): void {
  const svc = ctx.runtime.capture;
  if (!svc || r?.kind !== 'upstream' || ctx.forwarded !== true || !CAPTURED.has(ctx.request.method)) return;
  const cfg = captureFor(ctx.snapshot, ctx.view.name);
  if (!cfg) return;
  try {
    const err = 'error' in outcome ? outcome.error : undefined;
    const method = ctx.request.method;
    const params = ctx.request.params ?? {};
    const byArgs = method === 'tools/call' || method === 'prompts/get';
    const tp = ctx.traceparent;
    svc.submit(
      {
        ts: Date.now(),
        call: ctx.id,
        trace: tp !== undefined && tp.length >= 35 ? tp.slice(3, 35) : undefined,
        tenant: ctx.principal.tenant,
        subject: ctx.principal.subject,
        endpoint: ctx.view.name,
        method,
        name: r.target?.exposed,
        upstream: r.upstream,
        inputKind: byArgs ? 'arguments' : 'params',
        input: byArgs ? (params.arguments ?? {}) : withoutMeta(params),
        outputKind: err ? 'error' : 'result',
        output: err ?? (outcome as { result: unknown }).result,
        ms: Math.round(Number(process.hrtime.bigint() - ctx.startedAt) / 1000) / 1000,
      },
      cfg,
    );
  } catch {
    /* capture never fails a call */
  }
}
