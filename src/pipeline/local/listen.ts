/**
 * Modern `subscriptions/listen` (spec 2026-07-28, basic/patterns/subscriptions): the gateway
 * acknowledges first, then fans out the catalogue changes and resource updates the client opted
 * into, each tagged with the subscription id, until the client closes the stream or cancels.
 *
 * Resource subscriptions are judged per URI as `resources/subscribe` is (the view must route the
 * URI, policy must allow it). A refused URI is left out of the filter and of the acknowledgement
 * (which lists the subset the server agreed to honour) rather than refusing the whole listen: the
 * client learns which URIs it will hear about, and the rest of its filter still works.
 */
import { META } from '../../mcp/eras.js';
import { isObject, type CallOutcome, type JsonRpcNotification } from '../../mcp/jsonrpc.js';
import { traceIdOf } from '../../observability/call.js';
import { policyEngine } from '../../policy/current.js';
import type { PolicyEngine } from '../../policy/engine.js';
import { judgeResource } from '../../stages/authorize/authorize.js';
import type { CallContext } from '../context.js';
import { GatewayError } from '../errors.js';

export interface ListenFilter {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  resourceSubscriptions: ReadonlySet<string>;
}

/** A live listen stream, as the gateway's fan-out sees it. */
export interface Listener {
  readonly view: string;
  readonly tenant: string;
  readonly filter: ListenFilter;
  send(msg: JsonRpcNotification): void;
  keepAlive(): void;
  /**
   * Whether a `notifications/resources/updated` for this URI may still go out: policy judged
   * again at delivery (stored rules as they are now; config rules as of the listen's snapshot).
   * The fan-out also checks that the endpoint's current view routes the URI.
   */
  admits(uri: string): boolean;
}

/** At most this many resource subscriptions per listen stream (more are not acknowledged). */
const MAX_RESOURCE_SUBSCRIPTIONS = 1000;

/**
 * `params.notifications`: absent means nothing opted into; anything present must have the
 * filter's shape (an object of booleans and a list of URIs), else -32602 rather than a silently
 * empty acknowledgement.
 */
export function parseFilter(v: unknown): ListenFilter {
  if (v !== undefined && !isObject(v)) throw new GatewayError('ERR_INVALID_PARAMS', 'params.notifications must be an object');
  const f = v ?? {};
  for (const k of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) {
    if (f[k] !== undefined && typeof f[k] !== 'boolean') throw new GatewayError('ERR_INVALID_PARAMS', `params.notifications.${k} must be a boolean`);
  }
  const rs = f.resourceSubscriptions;
  if (rs !== undefined && !(Array.isArray(rs) && rs.every((u) => typeof u === 'string'))) {
    throw new GatewayError('ERR_INVALID_PARAMS', 'params.notifications.resourceSubscriptions must be a list of URIs');
  }
  const subs = rs === undefined ? [] : (rs as string[]).slice(0, MAX_RESOURCE_SUBSCRIPTIONS);
  return {
    toolsListChanged: f.toolsListChanged === true,
    promptsListChanged: f.promptsListChanged === true,
    resourcesListChanged: f.resourcesListChanged === true,
    resourceSubscriptions: new Set(subs),
  };
}

function acknowledged(filter: ListenFilter): Record<string, unknown> {
  const n: Record<string, unknown> = {};
  if (filter.toolsListChanged) n.toolsListChanged = true;
  if (filter.promptsListChanged) n.promptsListChanged = true;
  if (filter.resourcesListChanged) n.resourcesListChanged = true;
  if (filter.resourceSubscriptions.size) n.resourceSubscriptions = [...filter.resourceSubscriptions];
  return n;
}

/** The requested resource subscriptions this caller may have, judged as `resources/subscribe`; refusals are logged and dropped. */
function watchable(ctx: CallContext, requested: ListenFilter, engine: PolicyEngine | undefined): ListenFilter {
  if (requested.resourceSubscriptions.size === 0) return requested;
  const kept = new Set<string>();
  for (const uri of requested.resourceSubscriptions) {
    const { refused, decision: d } = judgeResource(engine, ctx.view, ctx.principal, uri);
    if (d?.shadow) {
      for (const s of d.shadow) ctx.log.info({ call: ctx.id, rule: s.rule, effect: s.effect, enforced: d.effect, method: 'subscriptions/listen' }, 'policy.shadow');
    }
    if (refused === undefined) kept.add(uri);
    else if (d) ctx.log.info({ call: ctx.id, trace: traceIdOf(ctx), effect: d.effect, rule: d.rule, reason: d.reason, method: 'subscriptions/listen', tenant: ctx.principal.tenant, subject: ctx.principal.subject }, 'policy.refused');
  }
  return { ...requested, resourceSubscriptions: kept };
}

export async function listen(ctx: CallContext): Promise<CallOutcome> {
  // The engine is looked up again only when stored rules change (a lookup for an older snapshot rebuilds it).
  let judged = { version: ctx.runtime.policy?.version, engine: policyEngine(ctx.snapshot, ctx.runtime.policy) };
  const filter = watchable(ctx, parseFilter(ctx.request.params?.notifications), judged.engine);
  const admits = (uri: string): boolean => {
    const version = ctx.runtime.policy?.version;
    if (version !== judged.version) judged = { version, engine: policyEngine(ctx.snapshot, ctx.runtime.policy) };
    return judgeResource(judged.engine, ctx.view, ctx.principal, uri).refused === undefined;
  };
  const subscriptionId = String(ctx.request.id);
  const tag = (msg: JsonRpcNotification): JsonRpcNotification => ({
    ...msg,
    params: { ...(msg.params ?? {}), _meta: { ...(isObject(msg.params?._meta) ? msg.params._meta : {}), [META.subscriptionId]: subscriptionId } },
  });
  ctx.sink.notify(tag({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: acknowledged(filter) } }));
  const listener: Listener = { view: ctx.view.name, tenant: ctx.principal.tenant, filter, send: (m) => ctx.sink.notify(tag(m)), keepAlive: () => ctx.sink.keepAlive?.(), admits };
  const unregister = ctx.runtime.addListener(listener);
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    unregister();
  }
  return { result: {} };
}
