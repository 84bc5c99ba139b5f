/**
 * Prometheus metrics on a registry of the gateway's own (never prom-client's global one, so two
 * gateways in one process, as in tests, do not mix). Label cardinality is bounded by
 * construction: methods come from a fixed list, tools from the caller's catalogue view, tenants
 * up to a cap, outcomes from the one error table; anything else collapses into `_other`.
 *
 * The per-call path is a string concatenation, one Map lookup and two histogram observations on
 * cached children: the hottest counter is tallied in plain numbers and handed to prom-client only
 * when scraped.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { TallyHistogram, type HistogramChild } from './tally-histogram.js';
import { gatewayCodeOf } from '../pipeline/errors.js';
import type { JsonRpcErrorObject } from '../mcp/jsonrpc.js';
import type { CaptureStats } from '../audit/capture/writer.js';

/** Label value for anything outside the bounded set. */
export const OTHER = '_other';

/** Every metric this module exports (the dashboard test checks its queries against this list). */
export const METRIC_NAMES = [
  'portcullis_calls_total',
  'portcullis_call_gateway_seconds',
  'portcullis_upstream_seconds',
  'portcullis_auth_total',
  'portcullis_denials_total',
  'portcullis_upstream_circuit_state',
  'portcullis_upstream_healthy',
  'portcullis_upstream_links',
  'portcullis_upstream_restarts_total',
  'portcullis_sessions_open',
  'portcullis_audit_lag_seconds',
  'portcullis_audit_checkpoint_age_seconds',
  'portcullis_audit_sink_backlog',
  'portcullis_capture_records_total',
  'portcullis_capture_queued',
] as const;

/** MCP methods that get their own label value (both eras); any other method is `_other`. */
const METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'subscriptions/listen',
  'server/discover',
  'logging/setLevel',
  'completion/complete',
]);

/** Outcomes that are refusals by a governance stage, counted again in portcullis_denials_total. */
const DENIALS = new Set([
  'ERR_POLICY_DENIED',
  'ERR_APPROVAL_REQUIRED',
  'ERR_RATE_LIMITED',
  'ERR_QUOTA_EXCEEDED',
  'ERR_OVERLOADED',
  'ERR_INSUFFICIENT_SCOPE',
  'ERR_ARGUMENT_INVALID',
  'ERR_ARGUMENT_GUARD',
  'ERR_AUDIT_UNAVAILABLE',
]);

const SEP = '\u0001';

/** Keeps at most `cap` distinct values; later newcomers map to `_other`. */
export class LabelCap {
  private readonly seen = new Set<string>();
  constructor(private readonly cap: number) {}
  of(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.cap) return OTHER;
    this.seen.add(v);
    return v;
  }
}

/** One finished call, as the pipeline describes it to the metrics. */
export interface CallFacts {
  tenant: string;
  virtualServer: string;
  /** Upstream name, `_gateway` for locally answered methods, `_none` when routing failed. */
  upstream: string;
  /** Exposed tool name when the call targets a tool of the caller's view, else '' or `_other`. */
  tool: string;
  method: string;
  /** `ok`, `tool_error`, `upstream_error`, or a code of the error table (ERR_…). */
  outcome: string;
  /** Seconds spent in the gateway itself (total minus upstream). */
  gatewaySeconds: number;
  /** Seconds spent waiting for the upstream, or undefined when nothing was forwarded. */
  upstreamSeconds: number | undefined;
}

/** What the collector reads at scrape time from the running gateway. */
export interface GatewayState {
  upstreams(): Iterable<{ name: string; kind: string; health: string; breaker: 'closed' | 'open' | 'half-open'; links: { live: number; restarts: number } }>;
  sessions(): number;
}

/** Audit-log statistics (src/audit exposes them); every field optional. */
export interface AuditStats {
  /** Age of the oldest record not yet delivered to every sink (0 when caught up). */
  lagSeconds?: number;
  /** Seconds since the newest checkpoint. */
  checkpointAgeSeconds?: number;
  /** Records waiting per sink. */
  sinkBacklog?: Readonly<Record<string, number>>;
}

interface Tally {
  labels: Record<string, string>;
  value: number;
}

const BREAKER = { closed: 0, 'half-open': 1, open: 2 } as const;
// Gateway overhead is sub-millisecond; upstreams take milliseconds to minutes.
const GATEWAY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The gateway's metrics: call, auth and denial counters, latency histograms, state gauges. */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly tenants: LabelCap;
  private readonly reasons = new LabelCap(64);
  private readonly calls = new Map<string, Tally>();
  private readonly denials = new Map<string, Tally>();
  private readonly gatewayHist: TallyHistogram;
  private readonly upstreamHist: TallyHistogram;
  private readonly gwChildren = new Map<string, HistogramChild>();
  private readonly upChildren = new Map<string, HistogramChild>();
  private readonly auth = new Map<string, Tally>();
  private readonly restartsSeen = new Map<string, number>();
  private audit: (() => AuditStats) | undefined;
  private capture: (() => CaptureStats) | undefined;

  constructor(opts: { maxTenants: number; state?: GatewayState }) {
    this.tenants = new LabelCap(opts.maxTenants);
    const registers = [this.registry];
    const tallied = (name: string, help: string, labelNames: string[], source: Map<string, Tally>): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const t of source.values()) this.inc(t.labels, t.value);
        },
      });
    };
    tallied('portcullis_calls_total', 'Calls by tenant, virtual server, upstream, tool, method and outcome.', ['tenant', 'virtual_server', 'upstream', 'tool', 'method', 'outcome'], this.calls);
    tallied('portcullis_denials_total', 'Calls refused by a governance stage (policy, rate limit, quota, arguments, approval, audit), by tenant and code.', ['tenant', 'code'], this.denials);
    this.gatewayHist = new TallyHistogram('portcullis_call_gateway_seconds', "The gateway's own time per call (total minus the upstream's).", ['method'], GATEWAY_BUCKETS);
    this.upstreamHist = new TallyHistogram('portcullis_upstream_seconds', 'Time waiting for the upstream per forwarded call.', ['upstream', 'method'], UPSTREAM_BUCKETS);
    this.registry.registerMetric(this.gatewayHist.asMetric());
    this.registry.registerMetric(this.upstreamHist.asMetric());
    tallied('portcullis_auth_total', 'Front-door authentications: successes by method, failures by reason.', ['result', 'method', 'reason'], this.auth);

    const state = opts.state;
    const restartsSeen = this.restartsSeen;
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          fill(this);
        },
      });
    };
    if (state) {
      gauge('portcullis_upstream_circuit_state', 'Circuit breaker per upstream: 0 closed, 1 half-open, 2 open.', ['upstream'], (g) => {
        for (const u of state.upstreams()) g.set({ upstream: u.name }, BREAKER[u.breaker]);
      });
      gauge('portcullis_upstream_healthy', '1 when the upstream is healthy, else 0.', ['upstream'], (g) => {
        for (const u of state.upstreams()) g.set({ upstream: u.name }, u.health === 'healthy' ? 1 : 0);
      });
      gauge('portcullis_upstream_links', 'Live links per upstream; for stdio upstreams, running processes.', ['upstream', 'kind'], (g) => {
        for (const u of state.upstreams()) g.set({ upstream: u.name, kind: u.kind }, u.links.live);
      });
      new Counter({
        name: 'portcullis_upstream_restarts_total',
        help: 'Restarts after a crash (stdio processes, HTTP links), per upstream.',
        labelNames: ['upstream'],
        registers,
        collect() {
          for (const u of state.upstreams()) {
            // Supervisors come and go (private links, reloads): count only growth, so the counter never falls.
            const prev = restartsSeen.get(u.name) ?? 0;
            const now = u.links.restarts;
            if (now > prev) this.inc({ upstream: u.name }, now - prev);
            else this.inc({ upstream: u.name }, 0);
            restartsSeen.set(u.name, now);
          }
        },
      });
      gauge('portcullis_sessions_open', 'Open legacy sessions.', [], (g) => g.set(state.sessions()));
    }
    const audit = (): AuditStats | undefined => {
      try {
        return this.audit?.();
      } catch {
        return undefined;
      }
    };
    gauge('portcullis_audit_lag_seconds', 'Age of the oldest audit record not yet delivered to every sink (0 when caught up).', [], (g) => {
      const v = audit()?.lagSeconds;
      if (v !== undefined) g.set(v);
    });
    gauge('portcullis_audit_checkpoint_age_seconds', 'Seconds since the newest audit checkpoint.', [], (g) => {
      const v = audit()?.checkpointAgeSeconds;
      if (v !== undefined) g.set(v);
    });
    gauge('portcullis_audit_sink_backlog', 'Audit records waiting per sink.', ['sink'], (g) => {
      for (const [sink, n] of Object.entries(audit()?.sinkBacklog ?? {})) g.set({ sink }, n);
    });
    const capture = (): CaptureStats | undefined => this.capture?.();
    new Counter({
      name: 'portcullis_capture_records_total',
      help: 'Payload capture lines by result: written, dropped (queue full) or failed (redaction or disk error).',
      labelNames: ['result'],
      registers,
      collect() {
        // The capture writer's own counts only grow: read them as they are.
        this.reset();
        const c = capture();
        if (!c) return;
        this.inc({ result: 'written' }, c.written);
        this.inc({ result: 'dropped' }, c.dropped);
        this.inc({ result: 'failed' }, c.failed);
      },
    });
    gauge('portcullis_capture_queued', 'Payload capture lines waiting to be written.', [], (g) => {
      const c = capture();
      if (c) g.set(c.queued);
    });
  }

  /** Connects the payload capture's statistics; read at each scrape. */
  registerCaptureStats(stats: () => CaptureStats): void {
    this.capture = stats;
  }

  /** Connects the audit service's statistics; read at each scrape. */
  registerAuditGauges(stats: () => AuditStats): void {
    this.audit = stats;
  }

  /** Counts one finished call and observes its latencies. */
  call(f: CallFacts): void {
    const tenant = this.tenants.of(f.tenant);
    const method = METHODS.has(f.method) ? f.method : OTHER;
    const key = tenant + SEP + f.virtualServer + SEP + f.upstream + SEP + f.tool + SEP + method + SEP + f.outcome;
    const t = this.calls.get(key);
    if (t) t.value++;
    else this.calls.set(key, { labels: { tenant, virtual_server: f.virtualServer, upstream: f.upstream, tool: f.tool, method, outcome: f.outcome }, value: 1 });
    if (DENIALS.has(f.outcome)) {
      const dk = tenant + SEP + f.outcome;
      const d = this.denials.get(dk);
      if (d) d.value++;
      else this.denials.set(dk, { labels: { tenant, code: f.outcome }, value: 1 });
    }
    let g = this.gwChildren.get(method);
    if (!g) this.gwChildren.set(method, (g = this.gatewayHist.child(method)));
    g.observe(f.gatewaySeconds);
    if (f.upstreamSeconds !== undefined) {
      const uk = f.upstream + SEP + method;
      let u = this.upChildren.get(uk);
      if (!u) this.upChildren.set(uk, (u = this.upstreamHist.child(f.upstream, method)));
      u.observe(f.upstreamSeconds);
    }
  }

  /** A request admitted by the front door. */
  authSucceeded(method: string): void {
    this.tally(this.auth, 's' + SEP + method, { result: 'success', method, reason: '' });
  }

  /** A request refused by the front door; `reason` is the error code or its short reason. */
  authFailed(reason: string): void {
    const r = this.reasons.of(reason);
    this.tally(this.auth, 'f' + SEP + r, { result: 'failure', method: '', reason: r });
  }

  private tally(m: Map<string, Tally>, key: string, labels: Record<string, string>): void {
    const t = m.get(key);
    if (t) t.value++;
    else m.set(key, { labels, value: 1 });
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/** The outcome label of an error: its gateway code when the gateway made it, else `upstream_error`. */
export function outcomeOfError(error: JsonRpcErrorObject): string {
  return gatewayCodeOf(error) ?? 'upstream_error';
}
