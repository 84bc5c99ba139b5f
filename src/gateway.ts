/**
 * Composition root: wires the modules together. No protocol logic lives here.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { SnapshotHolder } from './config/holder.js';
import type { Logger } from './observability/logger.js';
import type { Store } from './storage/ports.js';
import { newCursorKey } from './mcp/cursor.js';
import { viewOf, DEFAULT_VIEW, type CatalogView } from './catalog/view.js';
import { CatalogService } from './catalog/service.js';
import { usableBy } from './catalog/catalog.js';
import { UpstreamSet } from './upstreams/upstream-set.js';
import { SessionStore } from './sessions/store.js';
import { Fanout } from './runtime/fanout.js';
import { hostPolicy, type HostPolicy } from './http/guards.js';
import { buildFrontDoor } from './http/server.js';
import type { Endpoint, GatewayCore } from './http/core.js';
import type { Runtime } from './pipeline/context.js';
import { sseComment } from './mcp/sse.js';
import { GET_STREAM } from './sessions/session.js';
import { ParkingLot } from './pipeline/parking.js';
import { PolicyService } from './policy/service.js';
import { canonicalJson } from './config/compile.js';
import { createIdentity, type Identity } from './auth/identity.js';
import { createLimiter } from './ratelimit/limiter.js';
import { OverloadMonitor } from './runtime/overload.js';
import { AuditService } from './audit/service.js';
import { WitnessService } from './audit/witness-service.js';
import { restartNeeded } from './config/start-only.js';
import { CaptureService } from './audit/capture/service.js';
import { captureLimits } from './audit/capture/config.js';
import { startAuditRemotes, type AuditRemotes } from './audit/remotes.js';
import { GATEWAY_INFO } from './pipeline/local/server-info.js';
import { GatewayError } from './pipeline/errors.js';
import { auditConfigSwap, auditPolicyChange, auditUpstreamHealth, withAuditHealth } from './audit/events.js';
import { GatewayMetrics } from './observability/metrics.js';
import { Tracing } from './observability/tracing.js';
import { startMetricsListener, type MetricsListener } from './observability/metrics-listener.js';
import { auditGaugeSource } from './observability/audit-gauges.js';

export interface Gateway {
  /** The base URL once listening, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly core: GatewayCore;
  readonly upstreams: UpstreamSet;
  /** The front door (its route inventory is read by tests and the admin API). */
  readonly app: FastifyInstance;
  readonly identity: Identity;
  /** The audit logs (docs/audit.md); recovered before listen, closed (final checkpoint) on close. */
  readonly audit: AuditService;
  /** Prometheus metrics (observability.metrics.enabled); audit gauges attach with `registerAuditGauges`. */
  readonly metrics: GatewayMetrics | undefined;
  /** The own metrics listener's URL (observability.metrics.listen), once listening. */
  readonly metricsUrl: string | undefined;
  /** Traces (observability.tracing); undefined when off. */
  readonly tracing: Tracing | undefined;
  listen(): Promise<string>;
  /** Stops accepting, lets calls in flight finish within the grace period, ends sessions, stops upstreams. */
  close(): Promise<void>;
}

const KEEPALIVE_MS = 25_000;

export function createGateway(holder: SnapshotHolder, log: Logger, store: Store): Gateway {
  let policy: HostPolicy = policyOf(holder);
  const inFlight = new Set<Promise<unknown>>();
  const callPrefix = randomBytes(4).toString('hex');
  let callSeq = 0;

  // The closures below run only after every const here is initialised (at listen time or later).
  const upstreams: UpstreamSet = new UpstreamSet(
    log,
    store,
    {
      onCatalogChange: (announced) => catalog.schedule(announced),
      onHealth: (upstream, health, reason) => auditUpstreamHealth(audit, upstream, health, reason),
      onNotification: (upstream, msg) => {
        if (msg.method === 'notifications/resources/updated') fanout.resourceUpdated(msg, (tenant) => usableBy(catalog.current.upstreams.get(upstream), tenant));
      },
    },
    { resolveSecret: () => identity.secrets()?.resolveSecret, oauthFor: (name) => identity.oauthFor(name) },
  );
  const catalog = new CatalogService(holder, () => upstreams, log);
  const sessions = new SessionStore(limitsOf(holder), (s, reason) => {
    upstreams.releaseSession(s.id, s.subscriptions);
    log.debug({ session: s.id.slice(0, 6), reason }, 'session.closed');
  });
  const fanout = new Fanout(sessions, () => holder.current.virtualServers, () => catalog.current);
  catalog.onChange((next, prev, announced) => fanout.catalogChanged(next, prev, announced));

  const overload = new OverloadMonitor(log);
  // Observability is read once: a listener and an exporter are process resources (docs/observability.md).
  const obsCfg = holder.current.observability;
  const metrics = obsCfg.metrics.enabled
    ? new GatewayMetrics({
        maxTenants: obsCfg.metrics.maxTenants,
        state: {
          upstreams: () => upstreams.all().map((m) => ({ name: m.name, kind: m.cfg.kind, health: m.health, breaker: m.guard.breakerState, links: m.linkStats })),
          sessions: () => sessions.size,
        },
      })
    : undefined;
  const tracing = obsCfg.tracing ? new Tracing(obsCfg.tracing) : undefined;
  let metricsListener: MetricsListener | undefined;
  // Recovery (torn tails, outcome_unknown) runs here, before the gateway listens.
  const audit = new AuditService(holder.current.audit, log);
  audit.open();
  // Payload capture (debugging, off unless a virtual server enables it): under the audit directory, read at start like it.
  const capture = new CaptureService(holder.current.audit.dir, log, { limitsOf: (endpoint) => captureLimits(holder.current, endpoint) });
  // Sink lag and backlog come from the remote sinks once they start (at listen).
  let remotes: AuditRemotes | undefined;
  metrics?.registerAuditGauges(auditGaugeSource(audit, () => remotes?.lag() ?? []));
  metrics?.registerCaptureStats(() => capture.stats());
  const policyService = new PolicyService(store.policyRules, log);
  policyService.onChange((tenant) => auditPolicyChange(audit, tenant));
  policyService.onChange((tenant) => fanout.policyChanged(tenant));
  void policyService.load();
  const runtime: Runtime = {
    overload,
    manager: (name) => upstreams.get(name),
    cursorKey: newCursorKey(),
    addListener: (l) => fanout.addListener(l),
    parking: new ParkingLot(),
    policy: policyService,
    limiter: createLimiter(log, holder.current.rateLimits),
    audit,
    capture,
    ...(metrics || tracing ? { observability: { ...(metrics ? { metrics } : {}), ...(tracing ? { tracing } : {}) } } : {}),
  };

  const core: GatewayCore = {
    snapshot: () => holder.current,
    endpoint(name): Endpoint | undefined {
      if (name === undefined) return { name: DEFAULT_VIEW, eras: 'both' };
      const vs = holder.current.virtualServers.find((v) => v.name === name);
      return vs ? { name: vs.name, eras: vs.eras, tenant: vs.tenant } : undefined;
    },
    view(endpoint, tenant): CatalogView {
      const vs = endpoint === DEFAULT_VIEW ? undefined : holder.current.virtualServers.find((v) => v.name === endpoint);
      return viewOf(catalog.current, vs, tenant);
    },
    runtime,
    sessions,
    log,
    hostPolicy: () => policy,
    nextCallId: () => `${callPrefix}-${++callSeq}`,
    track<T>(p: Promise<T>): Promise<T> {
      inFlight.add(p);
      const done = (): void => void inFlight.delete(p);
      p.then(done, done);
      return p;
    },
  };

  holder.onSwap((next, previous) => {
    policy = policyOf(holder);
    // What principals may use changed: their lists may have too.
    if (canonicalJson(next.config.policy) !== canonicalJson(previous.config.policy)) fanout.policyChanged(undefined);
    sessions.setLimits(limitsOf(holder));
    overload.configure(next.gateway.overload);
    // Views depend on virtual-server config as well as the catalogue: rebuild so none is stale.
    void upstreams.reconcile(next).then(() => catalog.schedule());
    log.info({ version: next.version }, 'config.applied');
    const waiting = restartNeeded(next, previous);
    if (waiting.length > 0) log.warn({ version: next.version, settings: waiting }, 'config.restart_needed');
  });

  holder.onSwap((next, previous) => auditConfigSwap(audit, next, previous));

  const identity = createIdentity(holder, store, log);
  // Other gateways' checkpoints (audit.witnessService, read at start like the audit section).
  const witnessCfg = holder.current.audit.witnessService;
  const witness = witnessCfg.enabled ? new WitnessService(witnessCfg) : undefined;
  if (witness) log.info({ dir: witnessCfg.dir, trustedKeys: witnessCfg.trustedKeys.length }, 'audit.witness_service');
  const app: FastifyInstance = buildFrontDoor(core, {
    maxHeaderBytes: holder.current.gateway.limits.maxHeaderBytes,
    headersTimeoutMs: holder.current.gateway.limits.headersTimeoutMs,
    readiness: () => withAuditHealth(readiness(upstreams, sessions.size, holder.current.auth.mode === 'required', overload.shedding), audit, holder.current.auth.mode === 'required'),
    auth: identity.authenticator,
    metadataUrl: (endpoint) => identity.metadataUrl(endpoint),
    prm: (endpoint) => identity.prm(endpoint),
    mounts: () => identity.mounts(),
    adminKeys: identity.adminKeys,
    ...(metrics && !obsCfg.metrics.listen ? { metrics: () => metrics.expose() } : {}),
    ...(metrics ? { authEvents: { succeeded: (m: string) => metrics.authSucceeded(m), failed: (r: string) => metrics.authFailed(r) } } : {}),
    ...(witness ? { witness } : {}),
  });

  // SSE comments keep idle GET and listen streams alive through proxies; one timer for all.
  const keepalive = setInterval(() => {
    const frame = sseComment('keep-alive');
    for (const s of sessions.all()) {
      const res = s.streams.get(GET_STREAM)?.res;
      if (res && !res.destroyed) res.write(frame);
    }
    // Modern subscriptions/listen streams get the same (spec 2026-07-28: SHOULD send keep-alives).
    for (const l of fanout.listeners) l.keepAlive();
  }, KEEPALIVE_MS);
  keepalive.unref();

  let url = '';
  return {
    get url() {
      return url;
    },
    core,
    upstreams,
    app,
    identity,
    audit,
    metrics,
    get metricsUrl() {
      return metricsListener?.url;
    },
    tracing,
    async listen() {
      const g = holder.current.gateway;
      await app.listen({ host: g.host, port: g.port });
      const addr = app.server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      url = `http://${host}:${addr.port}`;
      await identity.start(url);
      // Sinks may need secrets: start them once the secret store is open.
      remotes = await startAuditRemotes(audit, holder.current.audit, identity.secrets()?.resolveSecret ?? noSecretStore, GATEWAY_INFO.version, log);
      const ml = obsCfg.metrics.listen;
      if (metrics && ml) metricsListener = await startMetricsListener(ml.host, ml.port, () => metrics.expose());
      overload.configure(holder.current.gateway.overload);
      await upstreams.reconcile(holder.current);
      return url;
    },
    async close() {
      clearInterval(keepalive);
      overload.stop();
      const grace = holder.current.gateway.shutdownGraceMs;
      // Stop accepting new connections; let in-flight calls finish within the grace period.
      const closing = app.close();
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, grace).unref())]);
      sessions.closeAll('gateway shutdown');
      runtime.parking.close();
      await runtime.limiter.close().catch((e: unknown) => log.warn({ err: e }, 'limiter.close_failed'));
      app.server.closeAllConnections?.();
      await upstreams.stopAll();
      await remotes?.stop(grace); // a sink's delivery in flight gets up to one more grace period to finish
      await audit.close(); // after in-flight calls: their outcomes are in the final checkpoint's tree
      await capture.close().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'capture.close_failed'));
      await closing.catch(() => undefined);
      await witness?.close(); // notes accepted before the listener closed are on disk
      await identity.close().catch((e: unknown) => log.warn({ err: e }, 'identity.close_failed'));
      await metricsListener?.close();
      await tracing?.shutdown().catch((e: unknown) => log.warn({ err: e }, 'tracing.shutdown_failed'));
    },
  };
}

function policyOf(holder: SnapshotHolder): HostPolicy {
  const g = holder.current.gateway;
  return hostPolicy(g.host, g.allowedHosts, g.allowedOrigins, g.publicUrl);
}

function limitsOf(holder: SnapshotHolder): { idleTtlMs: number; max: number } {
  const s = holder.current.gateway.sessions;
  return { idleTtlMs: s.idleTtlMs, max: s.max };
}

function readiness(upstreams: UpstreamSet, sessions: number, guarded: boolean, shedding: boolean): { ready: boolean; body: Record<string, unknown> } {
  // /readyz is public; with authentication on, failure reasons (URLs, errors) are not shown to anyone.
  // The breaker state (closed, open, half-open) is shown either way: it names no URL or error.
  const list = upstreams
    .all()
    .map((m) => (guarded ? { name: m.name, health: m.health, breaker: m.guard.breakerState } : { name: m.name, health: m.health, breaker: m.guard.breakerState, reason: m.healthReason }));
  // An open circuit makes the gateway degraded, not unready: it closes again on calls, which an
  // unready replica would no longer receive.
  const healthy = list.filter((u) => u.health === 'healthy' && u.breaker !== 'open').length;
  // Ready while at least one upstream serves (or none is configured): degraded upstreams are left out, not fatal.
  const ready = list.length === 0 || list.some((u) => u.health === 'healthy');
  const status = ready ? (healthy === list.length && !shedding ? 'ready' : 'degraded') : 'unavailable';
  return { ready, body: { status, upstreams: list, sessions, overloaded: shedding } };
}

/** Secret references of audit sinks fail clearly when the gateway has no secret store. */
async function noSecretStore(): Promise<string> {
  throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', 'no secret store is available for audit sink secrets');
}
