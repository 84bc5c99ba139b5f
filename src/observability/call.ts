/**
 * Per-call observability: stage stamps taken between handleCall's lines, and at the end of the
 * call one metrics record, the call's spans (built after the fact from the stamps, so the
 * pipeline keeps its one-screen shape) and the `call` log line. With metrics and tracing off,
 * each mark costs one property test.
 */
import { SpanKind, type Span } from '@opentelemetry/api';
import type { CallOutcome } from '../mcp/jsonrpc.js';
import { isObject } from '../mcp/jsonrpc.js';
import type { CallContext } from '../pipeline/context.js';
import type { Route } from '../stages/route/route.js';
import { OTHER, outcomeOfError, type GatewayMetrics } from './metrics.js';
import { traceparentOf, type Tracing } from './tracing.js';
import { validTraceparent } from './traceparent.js';

/** What the gateway observes with; absent members are off. */
export interface Observability {
  readonly metrics?: GatewayMetrics;
  readonly tracing?: Tracing;
}

/** A call's stamps (performance.now() milliseconds) and spans; present only when something observes. */
export interface CallObs {
  /** marks[i]: when stage i ended (see STAGES); holes where a stage threw or was not reached. */
  readonly marks: number[];
  span?: Span;
  hop?: Span;
  /** Trace id of an unsampled call (no spans are built for it). */
  traceId?: string;
}

/** Stage numbers for `mark(ctx, n)`: n is the stage that just ended. */
export const STAGES = ['start', 'authenticate', 'route', 'authorize', 'rate-limit', 'filter-in', 'approve', 'audit-decision', 'forward', 'filter-out'] as const;
const BEFORE_FORWARD = 7;
const AFTER_FORWARD = 8;

/** Refusals no stage logs on its own (policy refusals are logged by the authorize stage). */
const REFUSALS_LOGGED = new Set(['ERR_RATE_LIMITED', 'ERR_QUOTA_EXCEEDED']);
/** ctx.startedAt (hrtime ns) → performance.now() ms; both read the same monotonic clock. */
const HR_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();
const startMsOf = (ctx: CallContext): number => Number(ctx.startedAt) / 1e6 - HR_OFFSET_MS;

/**
 * Stamps the end of stage `stage`. Stage 0 opens the call's observation (and its span); stage 7
 * (before forward) opens the upstream hop span and makes it the `traceparent` sent upstream.
 */
export function mark(ctx: CallContext, stage: number, r?: Route): void {
  const obs = ctx.runtime.observability;
  if (obs === undefined) return;
  if (stage === 0) return begin(ctx, obs);
  const o = ctx.obs;
  if (o === undefined) return;
  // Metrics alone need only the forward stage's two stamps.
  if (o.span === undefined && stage !== BEFORE_FORWARD && stage !== AFTER_FORWARD) return;
  const now = performance.now();
  o.marks[stage] = now;
  if (stage === BEFORE_FORWARD && o.span !== undefined && r?.kind === 'upstream' && obs.tracing) {
    o.hop = obs.tracing.startChild(o.span, `upstream ${r.upstream}`, now, SpanKind.CLIENT, { 'portcullis.upstream': r.upstream, 'mcp.method.name': r.method });
    ctx.traceparent = traceparentOf(o.hop);
  }
}

function begin(ctx: CallContext, obs: Observability): void {
  const o: CallObs = { marks: [] };
  ctx.obs = o;
  if (!obs.tracing) return;
  let parent = ctx.traceparent;
  if (parent === undefined && ctx.client.era === 'modern') {
    // Modern requests may carry their trace context per request, in _meta.
    const meta = ctx.request.params?._meta;
    parent = validTraceparent(isObject(meta) ? meta.traceparent : undefined);
  }
  const startMs = startMsOf(ctx);
  o.marks[0] = startMs;
  const span = obs.tracing.startCall(ctx.request.method, parent, startMs, {
    'mcp.method.name': ctx.request.method,
    'portcullis.call_id': ctx.id,
    'portcullis.virtual_server': ctx.view.name,
  });
  if (span.isRecording()) {
    o.span = span;
    return;
  }
  // Not sampled: no stage or hop spans, but the upstream still joins the (unsampled) trace.
  o.traceId = span.spanContext().traceId;
  ctx.traceparent = traceparentOf(span);
}

/** The outcome label: ok, tool_error (a tool's own isError result), or an error-table code. */
export function outcomeLabel(outcome: CallOutcome): string {
  if ('error' in outcome) return outcomeOfError(outcome.error);
  return outcome.result.isError === true ? 'tool_error' : 'ok';
}

/** The trace id a log line should carry: the call's span, else the incoming traceparent. */
export function traceIdOf(ctx: CallContext): string | undefined {
  const o = ctx.obs;
  if (o?.span) return o.span.spanContext().traceId;
  return o?.traceId ?? ctx.traceparent?.slice(3, 35);
}

/** Ends the call's observation: metrics, spans, and the `call` log line (debug). */
export function finish(ctx: CallContext, r: Route | undefined, outcome: CallOutcome): void {
  const obs = ctx.runtime.observability;
  const o = ctx.obs;
  if (obs !== undefined && o !== undefined) {
    const end = performance.now();
    const startMs = o.marks[0] ?? startMsOf(ctx);
    const label = outcomeLabel(outcome);
    const before = o.marks[BEFORE_FORWARD];
    const upstreamMs = r?.kind === 'upstream' && before !== undefined ? (o.marks[AFTER_FORWARD] ?? end) - before : undefined;
    if (obs.metrics) {
      const upstream = r === undefined ? '_none' : r.kind === 'local' ? '_gateway' : r.upstream;
      const tool = ctx.request.method !== 'tools/call' ? '' : r?.kind === 'upstream' && r.target ? r.target.exposed : OTHER;
      const totalMs = end - startMs;
      obs.metrics.call({
        tenant: ctx.principal.tenant,
        virtualServer: ctx.view.name,
        upstream,
        tool,
        method: ctx.request.method,
        outcome: label,
        gatewaySeconds: Math.max(0, totalMs - (upstreamMs ?? 0)) / 1000,
        upstreamSeconds: upstreamMs === undefined ? undefined : upstreamMs / 1000,
      });
    }
    if (obs.tracing && o.span) endSpans(obs.tracing, ctx, o, r, label, end);
  }
  if ('error' in outcome && REFUSALS_LOGGED.has(outcomeOfError(outcome.error))) {
    // The rate-limit stage logs nothing itself: say who was refused (never what they sent).
    const p = ctx.principal;
    ctx.log.info({ call: ctx.id, trace: traceIdOf(ctx), tenant: p.tenant, subject: p.subject, method: ctx.request.method, code: outcomeOfError(outcome.error) }, 'ratelimit.refused');
  }
  if (ctx.log.isLevelEnabled('debug')) {
    const us = Number(process.hrtime.bigint() - ctx.startedAt) / 1000;
    const p = ctx.principal;
    ctx.log.debug(
      { call: ctx.id, trace: traceIdOf(ctx), tenant: p.tenant, subject: p.subject, method: ctx.request.method, upstream: r?.kind === 'upstream' ? r.upstream : undefined, us, error: 'error' in outcome ? outcome.error.code : undefined },
      'call',
    );
  }
}

function endSpans(tracing: Tracing, ctx: CallContext, o: CallObs, r: Route | undefined, label: string, end: number): void {
  const span = o.span!;
  const failed = label === 'ok' ? undefined : label;
  // One child per stage that ran: from the previous stamp to its own (or to the end, for the one that threw).
  let prev = o.marks[0]!;
  for (let i = 1; i < STAGES.length; i++) {
    const t = o.marks[i];
    if (i === AFTER_FORWARD && o.hop) {
      tracing.end(o.hop, t ?? end, t === undefined ? failed : undefined);
      if (t === undefined) break;
      prev = t;
      continue;
    }
    if (t === undefined) {
      if (i === 1 || o.marks[i - 1] !== undefined) tracing.record(span, STAGES[i]!, prev, end, failed);
      break;
    }
    tracing.record(span, STAGES[i]!, prev, t);
    prev = t;
  }
  span.setAttribute('portcullis.tenant', ctx.principal.tenant);
  span.setAttribute('portcullis.outcome', label);
  if (r?.kind === 'upstream') span.setAttribute('portcullis.upstream', r.upstream);
  if (r?.kind === 'upstream' && r.target) span.setAttribute(ctx.request.method === 'tools/call' ? 'gen_ai.tool.name' : 'portcullis.target', r.target.exposed);
  tracing.end(span, end, failed);
}
