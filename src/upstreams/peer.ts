/**
 * RpcPeer: the multiplexing core shared by every upstream link. It owns the id-remapping table
 * (upstream id → the call that sent it), rewrites progress tokens so that concurrent clients
 * cannot collide, routes notifications and server-to-client requests back to the call that
 * caused them, enforces first-byte and total deadlines, and propagates cancellation.
 *
 * Transports subclass it and implement `transmit()`. A transport that knows which request a
 * message belongs to (Streamable HTTP: the POST's own response stream) passes that call to
 * `deliver()`; a multiplexed transport (stdio, HTTP+SSE) passes none, and the peer attributes
 * by response id, by progress token, or — for log messages and server requests, which carry
 * neither — to the only call in flight. Anything it cannot attribute is never broadcast.
 */
import { GatewayError } from '../pipeline/errors.js';
import { MODERN_VERSION, META, LATEST_LEGACY_VERSION, type Era } from '../mcp/eras.js';
import {
  isObject,
  isRequest,
  isResponse,
  type CallOutcome,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from '../mcp/jsonrpc.js';
import type { CallOptions, LinkEvent, UpstreamInfo, UpstreamLink } from './types.js';
import { CallTable } from '../runtime/call-table.js';

export interface PeerTimeouts {
  connectMs: number;
  firstByteMs: number;
  totalMs: number;
}

export interface PendingCall {
  readonly id: number;
  readonly method: string;
  readonly opts: CallOptions | undefined;
  /** The downstream progress token this call's token replaced, if any. */
  readonly progressToken: string | number | undefined;
  readonly upstreamProgressToken: string | undefined;
  /**
   * Aborted when the call ends for any reason; transports tie their HTTP requests to it.
   * Created on first use (a stdio call never needs one); first used after the end, it is
   * already aborted.
   */
  readonly done: AbortController;
  /** True once the call has ended (a cheaper test than `done.signal.aborted`). */
  readonly ended: boolean;
  /**
   * Registers the one function that stops this call's transport request when the call ends
   * first (a timeout, a cancellation); a request that finished calls it harmlessly.
   */
  onEnd(stop: () => void): void;
  sawFirstByte: boolean;
  resolve(o: CallOutcome): void;
}

/** The capabilities the gateway declares to upstreams: it can relay all client features. */
export const GATEWAY_CLIENT_CAPABILITIES = { roots: { listChanged: true }, sampling: {}, elicitation: {} };
export const GATEWAY_CLIENT_INFO = { name: 'portcullis', version: '0.1.0' };

/** How often call deadlines are checked: timeouts fire at most this late. */
const SWEEP_MS = 20;

/** Prebuilt abort reason: aborting with none builds a DOMException per call (measurable on the hot path). */
const CALL_ENDED = new Error('call ended');

const LINK_LEVEL = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
]);

const errorOutcome = (e: GatewayError): CallOutcome => ({ error: e.toRpcError() });

/** What a call in flight needs from its peer. */
interface CallOwner {
  /** Takes the call out of the peer's tables; false if it had already left them. */
  release(c: InFlight): boolean;
  /** Tells the upstream a call was abandoned (not for initialize). */
  cancelled(c: InFlight, reason: string): void;
}

/**
 * One request in flight. A class rather than an object literal: a literal with getters gets
 * dictionary-mode properties, and the links read a call's fields on every message.
 */
class InFlight implements PendingCall {
  sawFirstByte = false;
  /** Deadlines (Date.now() ms; 0 = none), checked by the peer's sweep. */
  firstByteAt = 0;
  totalAt = 0;
  private ctl: AbortController | undefined = undefined;
  private stopper: (() => void) | undefined = undefined;
  private over = false;
  /** The listener on the caller's cancellation. */
  readonly onAbort = (): void => this.cancel('client cancelled', 'ERR_CANCELLED');

  constructor(
    private readonly owner: CallOwner,
    readonly id: number,
    readonly method: string,
    readonly opts: CallOptions | undefined,
    readonly progressToken: string | number | undefined,
    readonly upstreamProgressToken: string | undefined,
    private readonly settle: (o: CallOutcome) => void,
  ) {}

  get done(): AbortController {
    if (this.ctl === undefined) {
      this.ctl = new AbortController();
      if (this.over) this.ctl.abort(CALL_ENDED);
    }
    return this.ctl;
  }

  get ended(): boolean {
    return this.over;
  }

  onEnd(stop: () => void): void {
    if (this.over) stop();
    else this.stopper = stop;
  }

  resolve(o: CallOutcome): void {
    if (!this.owner.release(this)) return;
    this.over = true;
    this.opts?.signal.removeEventListener('abort', this.onAbort);
    this.ctl?.abort(CALL_ENDED);
    if (this.stopper !== undefined) this.stopper();
    this.settle(o);
  }

  /** Ends the call with `code`, telling the upstream to stop (a timeout or the caller's cancellation). */
  cancel(reason: string, code: 'ERR_CANCELLED' | 'ERR_UPSTREAM_TIMEOUT'): void {
    if (this.over) return;
    this.owner.cancelled(this, reason);
    this.resolve(errorOutcome(new GatewayError(code)));
  }
}

export abstract class RpcPeer implements UpstreamLink {
  era: Era = 'legacy';
  info: UpstreamInfo = { protocolVersion: LATEST_LEGACY_VERSION, capabilities: {}, serverInfo: { name: 'unknown', version: '0' } };
  closed = false;

  private nextId = 1;
  private readonly pending = new CallTable<number, PendingCall>();
  private readonly byProgressToken = new CallTable<string, PendingCall>();
  private readonly handlers: ((e: LinkEvent) => void)[] = [];
  /**
   * Deadlines of calls in flight, checked by one sweep per link instead of two timers per call
   * (timer churn was measurable on the hot path); resolution is SWEEP_MS.
   */
  private readonly deadlines = new CallTable<number, InFlight>();
  private sweepTimer: NodeJS.Timeout | undefined;

  protected constructor(
    protected readonly label: string,
    protected timeouts: PeerTimeouts,
  ) {}

  /**
   * New deadlines from a config reload that kept this link: they apply to calls and requests
   * started from now on (a call in flight keeps the deadlines it started with). Only for a live
   * link, after its handshake.
   */
  setTimeouts(t: PeerTimeouts): void {
    this.timeouts = { connectMs: t.connectMs, firstByteMs: t.firstByteMs, totalMs: t.totalMs };
  }

  /** Sends one message upstream. `call` is set for requests this peer originated. */
  protected abstract transmit(msg: JsonRpcMessage, call?: PendingCall): void;
  protected abstract shutdown(): Promise<void>;

  get inFlight(): number {
    return this.pending.size;
  }

  onEvent(handler: (e: LinkEvent) => void): void {
    this.handlers.push(handler);
  }

  protected emit(e: LinkEvent): void {
    for (const h of this.handlers) {
      try {
        h(e);
      } catch {
        /* a listener's failure is not the link's */
      }
    }
  }

  notify(method: string, params?: Record<string, unknown>): void {
    if (this.closed) return;
    const msg: JsonRpcNotification = params ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', method };
    this.transmit(this.era === 'modern' ? this.stampModern(msg, undefined) : msg);
  }

  call(method: string, params: Record<string, unknown> | undefined, opts: CallOptions): Promise<CallOutcome> {
    return this.request(method, params, opts, this.timeouts.firstByteMs, opts.totalMs ?? this.timeouts.totalMs);
  }

  /** Handshake-time request: no sink, connect deadline. */
  protected handshakeRequest(method: string, params: Record<string, unknown> | undefined): Promise<CallOutcome> {
    return this.request(method, params, undefined, this.timeouts.connectMs, this.timeouts.connectMs);
  }

  private request(
    method: string,
    params: Record<string, unknown> | undefined,
    opts: CallOptions | undefined,
    firstByteMs: number,
    totalMs: number,
  ): Promise<CallOutcome> {
    if (this.closed) return Promise.resolve(errorOutcome(new GatewayError('ERR_UPSTREAM_CLOSED')));
    if (opts?.signal.aborted) return Promise.resolve(errorOutcome(new GatewayError('ERR_CANCELLED')));
    const id = this.nextId++;
    let outParams = params;
    let progressToken: string | number | undefined;
    let upstreamProgressToken: string | undefined;
    const meta = params && isObject(params._meta) ? params._meta : undefined;
    if (meta && (typeof meta.progressToken === 'string' || typeof meta.progressToken === 'number')) {
      progressToken = meta.progressToken;
      upstreamProgressToken = `p${id}`;
      outParams = { ...params, _meta: { ...meta, progressToken: upstreamProgressToken } };
    }
    return new Promise<CallOutcome>((resolve) => {
      const call = new InFlight(this.owner, id, method, opts, progressToken, upstreamProgressToken, resolve);
      this.pending.set(id, call);
      if (upstreamProgressToken) this.byProgressToken.set(upstreamProgressToken, call);
      opts?.signal.addEventListener('abort', call.onAbort, { once: true });
      const now = Date.now();
      call.firstByteAt = firstByteMs > 0 && (totalMs === 0 || firstByteMs < totalMs) ? now + firstByteMs : 0;
      call.totalAt = totalMs > 0 ? now + totalMs : 0;
      if (call.firstByteAt || call.totalAt) {
        this.deadlines.set(id, call);
        this.armSweep();
      }
      let msg: JsonRpcRequest = outParams ? { jsonrpc: '2.0', id, method, params: outParams } : { jsonrpc: '2.0', id, method };
      if (this.era === 'modern') msg = this.stampModern(msg, opts);
      try {
        this.transmit(msg, call);
      } catch (e) {
        call.resolve(errorOutcome(new GatewayError('ERR_UPSTREAM_UNAVAILABLE', undefined, { cause: e })));
      }
    });
  }

  /** What a call in flight needs from its peer: leaving the tables, and telling the upstream it stopped. */
  private readonly owner: CallOwner = {
    release: (c) => {
      if (!this.pending.delete(c.id)) return false;
      this.deadlines.delete(c.id);
      if (c.upstreamProgressToken) this.byProgressToken.delete(c.upstreamProgressToken);
      return true;
    },
    cancelled: (c, reason) => {
      if (c.method !== 'initialize') this.sendCancel(c.id, reason);
    },
  };

  private armSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const d of this.deadlines.values()) {
        if (d.totalAt && now >= d.totalAt) d.cancel('timeout', 'ERR_UPSTREAM_TIMEOUT');
        else if (d.firstByteAt && !d.sawFirstByte && now >= d.firstByteAt) d.cancel('first-byte timeout', 'ERR_UPSTREAM_TIMEOUT');
      }
      if (this.deadlines.size === 0) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
    }, SWEEP_MS);
    this.sweepTimer.unref();
  }

  /**
   * Tells the upstream that a call was abandoned. Legacy and stdio: notifications/cancelled.
   * Modern Streamable HTTP overrides this with a no-op: closing the stream is the cancellation.
   */
  protected sendCancel(id: number, reason: string): void {
    const n: JsonRpcNotification = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } };
    this.transmit(this.era === 'modern' ? this.stampModern(n, undefined) : n);
  }

  /** Modern requests carry version and capabilities in `_meta` (spec 2026-07-28, basic). */
  protected stampModern<T extends JsonRpcRequest | JsonRpcNotification>(msg: T, opts: CallOptions | undefined): T {
    const params = msg.params ?? {};
    const meta = isObject(params._meta) ? params._meta : {};
    const stamped: Record<string, unknown> = {
      ...meta,
      [META.protocolVersion]: MODERN_VERSION,
      [META.clientCapabilities]: opts?.clientCapabilities ?? GATEWAY_CLIENT_CAPABILITIES,
      [META.clientInfo]: GATEWAY_CLIENT_INFO,
    };
    if (opts?.logLevel) stamped[META.logLevel] = opts.logLevel;
    if (opts?.traceparent) stamped.traceparent = opts.traceparent;
    return { ...msg, params: { ...params, _meta: stamped } };
  }

  /**
   * Entry point for every message a transport receives. `via`: the call whose stream carried it.
   * Nothing an upstream sends may throw out of here (transports call it from stream handlers):
   * a message the gateway cannot relay (e.g. too deeply nested to serialise) fails its call.
   */
  protected deliver(msg: JsonRpcMessage, via?: PendingCall): void {
    try {
      this.route(msg, via);
    } catch (e) {
      const p = via ?? (isResponse(msg) && typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined);
      p?.resolve(errorOutcome(new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Upstream message could not be relayed', { cause: e })));
    }
  }

  private route(msg: JsonRpcMessage, via?: PendingCall): void {
    if (isResponse(msg)) {
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) return; // late answer to a cancelled or timed-out call: dropped by design
      p.resolve('error' in msg ? { error: msg.error } : { result: msg.result });
      return;
    }
    if (isRequest(msg)) {
      this.onServerRequest(msg, via ?? this.soleCall());
      return;
    }
    // notification
    const n = msg as JsonRpcNotification;
    if (n.method === 'notifications/progress' && isObject(n.params)) {
      const token = n.params.progressToken;
      const p = typeof token === 'string' ? this.byProgressToken.get(token) : undefined;
      if (!p || p.progressToken === undefined) return; // progress for nothing in flight: must stop
      p.sawFirstByte = true;
      p.opts?.sink.notify({ ...n, params: { ...n.params, progressToken: p.progressToken } });
      return;
    }
    if (n.method === 'notifications/cancelled') return; // upstream gave up on one of its own requests
    // Modern listen streams tag their notifications with the listen request's id.
    const sid = isObject(n.params?._meta) ? n.params._meta[META.subscriptionId] : undefined;
    const listener = typeof sid === 'number' ? this.pending.get(sid) : undefined;
    if (listener) listener.sawFirstByte = true;
    // Catalogue changes and resource updates belong to no call, whichever stream carried them.
    if (LINK_LEVEL.has(n.method)) {
      this.emit({ type: 'notification', msg: n });
      return;
    }
    const target = via ?? listener ?? (n.method === 'notifications/message' ? this.soleCall() : undefined);
    if (target?.opts) {
      target.sawFirstByte = true;
      target.opts.sink.notify(n);
      return;
    }
    if (n.method === 'notifications/message') return; // unattributable log: logged by the transport, never broadcast
    this.emit({ type: 'notification', msg: n });
  }

  /** The call a message without routing information belongs to, when that is unambiguous. */
  private soleCall(): PendingCall | undefined {
    let only: PendingCall | undefined;
    for (const p of this.pending.values()) {
      // A listen stream is long-lived and never the source of a log message or a server request.
      if (p.method === 'subscriptions/listen') continue;
      if (only) return undefined;
      only = p;
    }
    return only?.opts ? only : undefined;
  }

  private onServerRequest(req: JsonRpcRequest, call: PendingCall | undefined): void {
    const respond = (o: CallOutcome): void => {
      if (this.closed) return;
      this.transmit('error' in o ? { jsonrpc: '2.0', id: req.id, error: o.error } : { jsonrpc: '2.0', id: req.id, result: o.result });
    };
    if (req.method === 'ping') {
      respond({ result: {} });
      return;
    }
    if (!call?.opts) {
      respond(errorOutcome(new GatewayError('ERR_UNATTRIBUTABLE')));
      return;
    }
    call.sawFirstByte = true;
    call.opts.sink.request(req.method, req.params, call.done.signal).then(respond, () =>
      respond(errorOutcome(new GatewayError('ERR_INTERNAL'))),
    );
  }

  /** The transport is gone: every call in flight fails now, none hangs. */
  protected failAll(reason: string): void {
    for (const p of this.pending.values()) p.resolve(errorOutcome(new GatewayError('ERR_UPSTREAM_CLOSED', `Upstream connection closed: ${reason}`)));
  }

  /** Marks the link closed, fails its calls and tells listeners. Idempotent. */
  protected markClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(reason);
    this.emit({ type: 'closed', reason });
  }

  async close(): Promise<void> {
    this.markClosed('closed by gateway');
    await this.shutdown();
  }

  /**
   * Legacy handshake: initialize, then notifications/initialized (spec 2025-11-25, lifecycle).
   * Returns false when the upstream does not answer like a legacy server.
   */
  protected async initializeLegacy(): Promise<boolean> {
    this.era = 'legacy';
    const o = await this.handshakeRequest('initialize', {
      protocolVersion: LATEST_LEGACY_VERSION,
      capabilities: GATEWAY_CLIENT_CAPABILITIES,
      clientInfo: GATEWAY_CLIENT_INFO,
    });
    if (!('result' in o) || typeof o.result.protocolVersion !== 'string') return false;
    const r = o.result;
    this.info = {
      protocolVersion: r.protocolVersion as string,
      capabilities: isObject(r.capabilities) ? r.capabilities : {},
      serverInfo: isObject(r.serverInfo) ? (r.serverInfo as UpstreamInfo['serverInfo']) : { name: 'unknown', version: '0' },
      ...(typeof r.instructions === 'string' ? { instructions: r.instructions } : {}),
    };
    this.transmit({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return true;
  }

  /**
   * Modern handshake: server/discover (spec 2026-07-28, server/discover). Returns 'modern' on a
   * DiscoverResult that lists our version, 'legacy' on anything else (no result, or an error
   * that is not a recognised modern error), so the caller falls back to initialize.
   */
  protected async discoverModern(): Promise<'modern' | 'legacy'> {
    this.era = 'modern';
    const o = await this.handshakeRequest('server/discover', {});
    if ('result' in o && Array.isArray(o.result.supportedVersions) && o.result.supportedVersions.includes(MODERN_VERSION)) {
      const r = o.result;
      const meta = isObject(r._meta) ? r._meta : {};
      const si = isObject(meta[META.serverInfo]) ? meta[META.serverInfo] : undefined;
      this.info = {
        protocolVersion: MODERN_VERSION,
        capabilities: isObject(r.capabilities) ? r.capabilities : {},
        serverInfo: (si as UpstreamInfo['serverInfo'] | undefined) ?? { name: 'unknown', version: '0' },
        ...(typeof r.instructions === 'string' ? { instructions: r.instructions } : {}),
      };
      return 'modern';
    }
    this.era = 'legacy';
    return 'legacy';
  }

  /** Upstream request id of a call, for transports that must name it (e.g. HTTP cancellation). */
  protected static idOf(call: PendingCall): JsonRpcId {
    return call.id;
  }
}
