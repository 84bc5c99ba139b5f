/**
 * OpenTelemetry traces over OTLP/HTTP (JSON). Nothing here is touched unless
 * `observability.tracing.otlpEndpoint` is set. No global provider, propagator or context manager
 * is registered: the gateway passes parent contexts explicitly, so it cannot disturb an
 * embedding application's own OpenTelemetry setup.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { CompiledObservability } from './config.js';
import { validTraceparent } from './traceparent.js';

/** The parent context an incoming `traceparent` names, or the root context when it is absent or invalid. */
export function parentFrom(traceparent: string | undefined): Context {
  const tp = validTraceparent(traceparent);
  if (tp === undefined) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: tp.slice(3, 35), spanId: tp.slice(36, 52), traceFlags: parseInt(tp.slice(53, 55), 16) & TraceFlags.SAMPLED, isRemote: true });
}

/** The `traceparent` that names `span` as the parent of the next hop. */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** Milliseconds (performance.now() clock) to the epoch milliseconds OpenTelemetry expects. */
const epochMs = (perfMs: number): number => performance.timeOrigin + perfMs;

/** The tracer of one gateway, with its exporter. */
export class Tracing {
  private readonly provider: BasicTracerProvider;
  readonly tracer: Tracer;

  constructor(cfg: NonNullable<CompiledObservability['tracing']>, opts: { scheduledDelayMillis?: number } = {}) {
    const exporter = new OTLPTraceExporter({ url: cfg.otlpEndpoint, headers: { ...cfg.headers }, timeoutMillis: 10_000 });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': cfg.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: opts.scheduledDelayMillis ?? 2000, maxQueueSize: 4096 })],
    });
    this.tracer = this.provider.getTracer('portcullis');
  }

  /** Starts a call's root span (kind SERVER) under the incoming parent, back-dated to `startMs`. */
  startCall(name: string, parent: string | undefined, startMs: number, attributes: Record<string, string>): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: epochMs(startMs), attributes }, parentFrom(parent));
  }

  /** Starts a child span of `parent` now-ish (back-dated to `startMs`). */
  startChild(parent: Span, name: string, startMs: number, kind: SpanKind = SpanKind.INTERNAL, attributes?: Record<string, string>): Span {
    return this.tracer.startSpan(name, { kind, startTime: epochMs(startMs), ...(attributes ? { attributes } : {}) }, trace.setSpan(ROOT_CONTEXT, parent));
  }

  /** A finished child span built after the fact from two stamps. */
  record(parent: Span, name: string, startMs: number, endMs: number, error?: string): void {
    const s = this.startChild(parent, name, startMs);
    if (error !== undefined) s.setStatus({ code: SpanStatusCode.ERROR, message: error });
    s.end(epochMs(endMs));
  }

  /** Ends a span at `endMs`, marking it failed when `error` is given. */
  end(span: Span, endMs: number, error?: string): void {
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end(epochMs(endMs));
  }

  /** Exports what is buffered (tests, shutdown). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
