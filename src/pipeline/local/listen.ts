/**
 * Modern `subscriptions/listen` (spec 2026-07-28, basic/patterns/subscriptions): the gateway
 * acknowledges first, then fans out the catalogue changes and resource updates the client opted
 * into, each tagged with the subscription id, until the client closes the stream or cancels.
 */
import { META } from '../../mcp/eras.js';
import { isObject, type CallOutcome, type JsonRpcNotification } from '../../mcp/jsonrpc.js';
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

export async function listen(ctx: CallContext): Promise<CallOutcome> {
  const filter = parseFilter(ctx.request.params?.notifications);
  const subscriptionId = String(ctx.request.id);
  const tag = (msg: JsonRpcNotification): JsonRpcNotification => ({
    ...msg,
    params: { ...(msg.params ?? {}), _meta: { ...(isObject(msg.params?._meta) ? msg.params._meta : {}), [META.subscriptionId]: subscriptionId } },
  });
  ctx.sink.notify(tag({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: acknowledged(filter) } }));
  const listener: Listener = { view: ctx.view.name, tenant: ctx.principal.tenant, filter, send: (m) => ctx.sink.notify(tag(m)), keepAlive: () => ctx.sink.keepAlive?.() };
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
