/**
 * The forward stage: answers gateway-owned methods locally, or sends the call to its upstream
 * over the link its sharing mode selects, and bridges eras on the way back (mcp-protocol.md §9):
 * a modern upstream's MRTR `input_required` becomes legacy server-to-client requests on the
 * caller's stream; legacy results gain `resultType` for modern clients; resource-not-found
 * codes are translated.
 */
import { subjectTokenOf } from '../auth/subject-tokens.js';
import { META } from '../mcp/eras.js';
import { isObject, RpcCode, type CallOutcome } from '../mcp/jsonrpc.js';
import type { CallContext } from './context.js';
import { asGatewayError, GatewayError } from './errors.js';
import { answerLocally } from './local/answer.js';
import type { Route } from '../stages/route/route.js';
import { ParkedCall, type ParkingLot } from './parking.js';
import { missingCapability } from '../mcp/client-features.js';
import type { CallOptions, UpstreamLink } from '../upstreams/types.js';
import type { UpstreamGuard } from '../upstreams/resilience/guard.js';
import type { UpstreamManager } from '../upstreams/manager.js';

/** Upper bound on MRTR rounds one call may take, so a looping upstream cannot hold a client forever. */
const MAX_INPUT_ROUNDS = 8;

/** Results that must carry caching hints in the modern era (spec 2026-07-28, server/utilities/caching). */
const CACHEABLE = new Set(['resources/read', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'server/discover']);

/** The client's per-request era envelope: it describes the client's hop, never the upstream's. */
const ENVELOPE_KEYS: readonly string[] = [META.protocolVersion, META.clientCapabilities, META.clientInfo, META.logLevel];

/**
 * Drops the downstream era envelope from `_meta`: a legacy upstream must not see a modern
 * envelope (a dual-era server would switch that request to stateless semantics, a legacy-only
 * one rejects it), and the link stamps its own envelope toward a modern upstream.
 */
function withoutEnvelope(params: Record<string, unknown>): Record<string, unknown> {
  const meta = params._meta;
  if (!isObject(meta) || !ENVELOPE_KEYS.some((k) => k in meta)) return params;
  const rest = Object.fromEntries(Object.entries(meta).filter(([k]) => !ENVELOPE_KEYS.includes(k)));
  const { _meta: _drop, ...others } = params;
  return Object.keys(rest).length > 0 ? { ...others, _meta: rest } : others;
}

/**
 * Waits for a link being started (a first start, a restart's backoff, a handshake) no longer
 * than the upstream's total deadline, and not past the call's cancellation: the start itself
 * goes on for later calls.
 */
function linkInTime(ctx: CallContext, manager: UpstreamManager, starting: Promise<UpstreamLink>): Promise<UpstreamLink> {
  const ms = manager.cfg.timeouts.totalMs;
  return new Promise<UpstreamLink>((resolve, reject) => {
    const onCancel = (): void => {
      clearTimeout(timer);
      reject(new GatewayError('ERR_CANCELLED', 'Request cancelled while the upstream was starting'));
    };
    const timer = setTimeout(() => {
      ctx.cancel.removeEventListener('abort', onCancel);
      reject(new GatewayError('ERR_UPSTREAM_TIMEOUT', `Upstream ${manager.name} did not become available within ${ms} ms`));
    }, ms);
    ctx.cancel.addEventListener('abort', onCancel, { once: true });
    starting.then(
      (link) => {
        clearTimeout(timer);
        ctx.cancel.removeEventListener('abort', onCancel);
        resolve(link);
      },
      (e: unknown) => {
        clearTimeout(timer);
        ctx.cancel.removeEventListener('abort', onCancel);
        reject(e);
      },
    );
  });
}

export async function forward(ctx: CallContext, r: Route): Promise<CallOutcome> {
  if (r.kind === 'local') return adaptOutcome(ctx, 'legacy', await answerLocally(ctx, r.method));
  const manager = ctx.runtime.manager(r.upstream);
  if (!manager || manager.health !== 'healthy') {
    throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream ${r.upstream} is unavailable`);
  }
  // Tenant, vouching issuer and subject: the same subject from two issuers is two principals.
  const principalKey = `${ctx.principal.tenant}/${ctx.principal.issuer ?? ctx.principal.authMethod}/${ctx.principal.subject}`;
  // Resilience (src/upstreams/resilience): a cached read is served even while the circuit is
  // open; otherwise an open circuit fails fast, before any link is chosen or opened.
  const guard = manager.guard;
  const cacheUri = r.method === 'resources/read' && r.uri !== undefined && guard.cache.covers(r.uri) ? r.uri : undefined;
  // Private cache entries follow the link's sharing: per session when each session has its own upstream.
  const cacheOwner = manager.cfg.sharing === 'per-session' && ctx.sessionId !== undefined ? `${principalKey}#${ctx.sessionId}` : principalKey;
  if (cacheUri !== undefined) {
    const hit = guard.cache.get(cacheUri, ctx.principal.tenant, cacheOwner);
    if (hit) return adaptOutcome(ctx, hit.era, hit.outcome);
  }
  guard.refuseIfOpen();
  const token = subjectTokenOf(ctx.principal);
  const link = manager.liveLink(principalKey, ctx.sessionId, token) ?? (await linkInTime(ctx, manager, manager.link(principalKey, ctx.sessionId, token)));
  // One shape for every call's options (conditional spreads gave calls different hidden classes).
  const opts: CallOptions = {
    sink: ctx.sink,
    signal: ctx.cancel,
    traceparent: ctx.traceparent,
    clientCapabilities: ctx.client.capabilities,
    logLevel: ctx.client.logLevel,
    totalMs: undefined,
  };
  if ((r.method === 'resources/subscribe' || r.method === 'resources/unsubscribe') && r.uri !== undefined) {
    const uri = r.uri;
    // A session counts once per URI: repeating a subscribe, or unsubscribing what it never
    // subscribed, must not move the shared count other sessions rely on.
    const has = ctx.subscriptions?.has(uri) ?? false;
    if (r.method === 'resources/subscribe' ? has : ctx.subscriptions !== undefined && !has) return adaptOutcome(ctx, link.era, { result: {} });
    // A refusal (open circuit, full bulkhead) must come back as an outcome, so the interest count is restored.
    const send = (): Promise<CallOutcome> => guard.run(false, ctx.cancel, () => callLink(ctx, link, r.method, withoutEnvelope(r.params), opts)).catch((e: unknown) => ({ error: asGatewayError(e).toRpcError() }));
    const o = await manager.changeInterest(r.method, uri, link, send);
    if ('result' in o && ctx.subscriptions) {
      if (r.method === 'resources/subscribe') ctx.subscriptions.add(uri);
      else ctx.subscriptions.delete(uri);
    }
    return adaptOutcome(ctx, link.era, o);
  }
  const base = withoutEnvelope(r.params);
  if (ctx.client.era === 'modern' && link.era === 'legacy' && PARKABLE.has(r.method)) {
    const parked = await viaParking(ctx, r.params, base, r.method, link, opts, guard);
    if (cacheUri !== undefined) guard.cache.put(cacheUri, ctx.principal.tenant, cacheOwner, link.era, parked, manager.cfg.sharing !== 'shared');
    return adaptOutcome(ctx, link.era, parked);
  }
  const safe = guard.safe(r.method, base);
  const send = (p: Record<string, unknown>): Promise<CallOutcome> => guard.run(safe, ctx.cancel, () => callLink(ctx, link, r.method, p, opts));
  let params = base;
  let outcome = await send(params);
  for (let round = 0; round < MAX_INPUT_ROUNDS; round++) {
    if (!('result' in outcome) || outcome.result.resultType !== 'input_required' || ctx.client.era !== 'legacy') break;
    // A legacy client cannot see MRTR: ask it on its own stream, then retry upstream with the answers.
    const inputResponses = await collectInputs(ctx, outcome.result.inputRequests);
    params = { ...base, inputResponses };
    if (outcome.result.requestState !== undefined) params.requestState = outcome.result.requestState;
    outcome = await send(params);
  }
  if (ctx.client.era === 'legacy' && 'result' in outcome && outcome.result.resultType === 'input_required') {
    throw new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Too many input rounds');
  }
  if (cacheUri !== undefined) guard.cache.put(cacheUri, ctx.principal.tenant, cacheOwner, link.era, outcome, manager.cfg.sharing !== 'shared');
  return adaptOutcome(ctx, link.era, outcome);
}

/** Hands the call to its upstream link, past the guard's checks: from here on the call was forwarded. */
function callLink(ctx: CallContext, link: UpstreamLink, method: string, params: Record<string, unknown>, opts: CallOptions): Promise<CallOutcome> {
  ctx.forwarded = true;
  return link.call(method, params, opts);
}

/** Calls whose upstream may ask the client something mid-way (MRTR applies to these, spec 2026-07-28). */
const PARKABLE = new Set(['tools/call', 'prompts/get', 'resources/read']);


/**
 * A modern client's call to a legacy upstream: the upstream's questions become `input_required`
 * answers, and the client's retry (carrying our sealed `requestState`) resumes the parked call.
 */
async function viaParking(
  ctx: CallContext,
  clientParams: Record<string, unknown>,
  upstreamParams: Record<string, unknown>,
  method: string,
  link: UpstreamLink,
  opts: CallOptions,
  guard: UpstreamGuard,
): Promise<CallOutcome> {
  const lot = ctx.runtime.parking;
  const principal = `${ctx.principal.tenant}/${ctx.principal.subject}`;
  if (clientParams.requestState !== undefined) {
    const parked = lot.open(clientParams.requestState, principal);
    if (parked === undefined) throw new GatewayError('ERR_INVALID_PARAMS', 'requestState is invalid, expired or belongs to another caller');
    if (parked !== 'foreign') {
      if (!parked.answer(clientParams.inputResponses)) throw new GatewayError('ERR_INVALID_PARAMS', 'inputResponses must answer the pending input request');
      return settle(ctx, lot, parked);
    }
  }
  const parked = new ParkedCall(principal, ctx.sink);
  const signal = parked.abort.signal;
  // Never retried: a parked call may have asked the client something already.
  parked.outcome = guard.run(false, signal, () => callLink(ctx, link, method, upstreamParams, { ...opts, sink: parked, signal })).catch((e: unknown) => ({ error: asGatewayError(e).toRpcError() }));
  return settle(ctx, lot, parked);
}

async function settle(ctx: CallContext, lot: ParkingLot, parked: ParkedCall): Promise<CallOutcome> {
  // While a client request waits on the parked call, closing that request cancels it upstream.
  const onAbort = (): void => {
    lot.drop(parked.id);
    parked.abort.abort();
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (let round = 0; round < MAX_INPUT_ROUNDS; round++) {
      const next = await parked.next(ctx.sink);
      if ('done' in next) return next.done;
      const need = missingCapability(next.ask.method, ctx.client.capabilities);
      if (need !== undefined) {
        parked.refuse(new GatewayError('ERR_CLIENT_CAPABILITY', `The client did not declare ${need}`).toRpcError());
        continue;
      }
      if (!lot.add(parked)) {
        parked.abort.abort();
        throw new GatewayError('ERR_OVERLOADED', 'Too many calls are waiting for client input');
      }
      const ask = next.ask.params ? { method: next.ask.method, params: next.ask.params } : { method: next.ask.method };
      return { result: { resultType: 'input_required', inputRequests: { [next.ask.key]: ask }, requestState: lot.seal(parked) } };
    }
    parked.abort.abort();
    throw new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Too many input rounds');
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

async function collectInputs(ctx: CallContext, requests: unknown): Promise<Record<string, unknown>> {
  if (!isObject(requests)) throw new GatewayError('ERR_UPSTREAM_PROTOCOL', 'input_required without inputRequests');
  const entries = Object.entries(requests).slice(0, 16);
  const answers = await Promise.all(
    entries.map(async ([key, req]) => {
      if (!isObject(req) || typeof req.method !== 'string') throw new GatewayError('ERR_UPSTREAM_PROTOCOL', `inputRequests.${key} is not a request`);
      const o = await ctx.sink.request(req.method, isObject(req.params) ? req.params : undefined, ctx.signal);
      if ('error' in o) throw new GatewayError('ERR_CLIENT_CAPABILITY', o.error.message);
      return [key, o.result] as const;
    }),
  );
  return Object.fromEntries(answers);
}

/** Makes an upstream's answer correct for the client's era. */
function adaptOutcome(ctx: CallContext, upstreamEra: 'legacy' | 'modern', o: CallOutcome): CallOutcome {
  const clientEra = ctx.client.era;
  if ('error' in o) {
    if (clientEra === upstreamEra) return o;
    // Resource not found: -32002 in the legacy era, -32602 in the modern one (spec 2026-07-28, server/resources).
    if (ctx.request.method === 'resources/read') {
      if (clientEra === 'modern' && o.error.code === RpcCode.ResourceNotFound) return { error: { ...o.error, code: RpcCode.InvalidParams } };
      if (clientEra === 'legacy' && o.error.code === RpcCode.InvalidParams) return { error: { ...o.error, code: RpcCode.ResourceNotFound } };
    }
    return o;
  }
  if (clientEra === 'modern') {
    let result = o.result;
    if (result.resultType === undefined) result = { ...result, resultType: 'complete' };
    // Hints filled in when translating from legacy: the safest ones, never shared, never cached (§13).
    if (CACHEABLE.has(ctx.request.method)) {
      if (typeof result.ttlMs !== 'number') result = { ...result, ttlMs: 0 };
      if (result.cacheScope !== 'public' && result.cacheScope !== 'private') result = { ...result, cacheScope: 'private' };
    }
    return result === o.result ? o : { result };
  }
  if (clientEra === 'legacy' && o.result.resultType !== undefined) {
    const { resultType: _drop, ...rest } = o.result;
    return { result: rest };
  }
  return o;
}
