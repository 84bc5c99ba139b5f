/**
 * CallContext: everything one call carries through the pipeline. It is created by the front
 * door per downstream JSON-RPC request and keeps the snapshot the call started with, so a hot
 * reload never changes a call half-way.
 */
import type { Era } from '../mcp/eras.js';
import type { CallOutcome, JsonRpcRequest } from '../mcp/jsonrpc.js';
import type { Logger } from '../observability/logger.js';
import type { CallSink, CancelSignal } from '../upstreams/types.js';
import type { Snapshot } from '../config/compile.js';
import type { CatalogView } from '../catalog/view.js';
import type { UpstreamManager } from '../upstreams/manager.js';
import type { Listener } from './local/listen.js';
import type { ParkingLot } from './parking.js';
import type { Decision } from '../policy/decision.js';
import type { PolicyService } from '../policy/service.js';
import type { Limiter } from '../ratelimit/limiter.js';
import type { AuditService } from '../audit/service.js';
import type { CaptureService } from '../audit/capture/service.js';
import type { CallObs, Observability } from '../observability/call.js';

/** What the pipeline needs from the running gateway. */
export interface Runtime {
  manager(name: string): UpstreamManager | undefined;
  /** Key that seals the gateway's pagination cursors (rotates per process). */
  readonly cursorKey: Buffer;
  /** Registers a modern listen stream for fan-out; returns its unregister function. */
  addListener(l: Listener): () => void;
  /** Upstream calls parked behind an `input_required` answer (modern client, legacy upstream). */
  readonly parking: ParkingLot;
  /** Stored (admin API) policy rules and the current engine; absent: config rules only. */
  readonly policy?: PolicyService;
  /** Load shedding (src/runtime/overload.ts): POST /mcp answers 503 while `shedding` is true. */
  readonly overload?: { readonly shedding: boolean };
  /** Rate limits and quotas (src/ratelimit/limiter.ts): per process for memory, shared through Redis. */
  readonly limiter: Limiter;
  /** The audit logs (src/audit/service.ts); absent in unit tests that build a bare runtime. */
  readonly audit?: AuditService;
  /** Redacted payload capture for debugging (src/audit/capture/), off unless a virtual server enables it. */
  readonly capture?: CaptureService;
  /** Metrics and tracing (src/observability); undefined when both are off. */
  readonly observability?: Observability;
}

/** The authenticated caller, built by the front door from a bearer token, an API key, or (open mode) anonymous. */
export interface Principal {
  subject: string;
  tenant: string;
  roles: readonly string[];
  groups: readonly string[];
  clientId?: string;
  authMethod: 'anonymous' | 'oauth' | 'api-key';
  /** Which trusted issuer vouched for it (its configured name), or 'api-key' / 'anonymous'. */
  issuer?: string;
  /** Granted scopes (OAuth); undefined means not scope-limited (anonymous, API keys). */
  scopes?: readonly string[];
  /**
   * Scalar top-level claims of a verified token (bounded: at most 32, strings ≤ 256, string lists
   * ≤ 32 items), for policy rules (`claims:`) and CEL (`principal.claims`). Absent for API keys.
   */
  claims?: Readonly<Record<string, string | number | boolean | readonly string[]>>;
  /** Virtual servers this credential is limited to; undefined or empty means no such limit. */
  virtualServers?: readonly string[];
}

/** What the downstream client told us about itself (initialize, or the modern per-request _meta). */
export interface ClientFacts {
  era: Era;
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  /** Modern per-request log level; legacy: the session's logging/setLevel. */
  logLevel?: string;
}

export interface CallContext {
  /** Gateway call id, carried by every log line about this call. */
  readonly id: string;
  readonly startedAt: bigint;
  readonly snapshot: Snapshot;
  readonly view: CatalogView;
  readonly request: JsonRpcRequest;
  readonly client: ClientFacts;
  /** Legacy session id (never forwarded upstream), or undefined for modern calls. */
  readonly sessionId: string | undefined;
  /** The downstream stream related messages go back on. */
  readonly sink: CallSink;
  /**
   * Writes the reply to the client. handleCall calls it as soon as the outcome is final, before
   * the outcome is recorded, so recording is not on the client's clock; the front door answers
   * from handleCall's result only when this is absent (a second reply is ignored).
   */
  readonly respond?: (outcome: CallOutcome) => void;
  /** Aborted on cancellation or (modern) client disconnect. */
  readonly signal: AbortSignal;
  /** The same cancellation without building an AbortSignal: what the pipeline and links listen on. */
  readonly cancel: CancelSignal;
  readonly log: Logger;
  /** W3C trace context for the upstream hop: the client's, or (tracing on) the hop span's, set before forward. */
  traceparent: string | undefined;
  /** Stage stamps and spans (src/observability/call.ts); set only while something observes. */
  obs?: CallObs;
  readonly runtime: Runtime;
  /** Legacy sessions: logging/setLevel stores the level here. */
  readonly setLogLevel?: (level: string) => void;
  /** Legacy sessions: the resource URIs it subscribed to, kept for resources/updated fan-out. */
  readonly subscriptions?: Set<string>;
  principal: Principal;
  /** Set by the authorize stage for upstream calls. */
  decision?: Decision;
  /** Set by the audit stage once the call's decision record is sequenced. */
  auditDecided?: boolean;
  /** Set by forward when the call is handed to an upstream link (past cache, breaker and bulkhead). */
  forwarded?: boolean;
}

/**
 * A call's cancellation. A real AbortSignal is built only when something asks for `signal`
 * (an API that needs one); the pipeline and the upstream links use the CancelSignal face.
 * Building an AbortSignal and its listeners per call was a measurable share of a call's CPU.
 */
export class CallCancel implements CancelSignal {
  private ac: AbortController | undefined;
  private cancelled = false;
  private listeners: (() => void)[] | undefined;

  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController();
      if (this.cancelled) this.ac.abort();
    }
    return this.ac.signal;
  }

  get aborted(): boolean {
    return this.cancelled;
  }

  /** Listeners run once, when the call is cancelled (every listener here is a once-listener). */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.cancelled) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const l = this.listeners;
    if (l === undefined) return;
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
  }

  abort(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const live = this.listeners;
    if (live !== undefined) {
      // As with EventTarget: a listener removed by an earlier one during this dispatch is skipped.
      for (const f of [...live]) {
        if (!live.includes(f)) continue;
        try {
          f();
        } catch {
          /* one listener's failure does not stop the others (as with EventTarget) */
        }
      }
      this.listeners = undefined;
    }
    this.ac?.abort();
  }
}

/** What the front door knows when a call starts; the rest of a CallContext is filled in by the stages. */
export type CallStart = Omit<CallContext, 'signal' | 'cancel' | 'obs' | 'decision' | 'auditDecided' | 'forwarded'> & { readonly cancel: CallCancel };

/**
 * The one way the front door builds a CallContext: a class, so that every call's context has the
 * same shape from the start (a spread copy with fields added later gave each call its own hidden
 * class, and every stage's property reads went megamorphic).
 */
class Context implements CallContext {
  readonly id: string;
  readonly startedAt: bigint;
  readonly snapshot: CallContext['snapshot'];
  readonly view: CallContext['view'];
  readonly request: CallContext['request'];
  readonly client: CallContext['client'];
  readonly sessionId: string | undefined;
  readonly sink: CallContext['sink'];
  readonly respond: CallContext['respond'];
  readonly log: CallContext['log'];
  traceparent: string | undefined;
  obs: CallObs | undefined = undefined;
  readonly runtime: Runtime;
  readonly setLogLevel: CallContext['setLogLevel'];
  readonly subscriptions: CallContext['subscriptions'];
  principal: Principal;
  decision: Decision | undefined = undefined;
  auditDecided: boolean | undefined = undefined;
  forwarded: boolean | undefined = undefined;
  readonly cancel: CallCancel;

  constructor(s: CallStart) {
    this.id = s.id;
    this.startedAt = s.startedAt;
    this.snapshot = s.snapshot;
    this.view = s.view;
    this.request = s.request;
    this.client = s.client;
    this.sessionId = s.sessionId;
    this.sink = s.sink;
    this.respond = s.respond;
    this.log = s.log;
    this.traceparent = s.traceparent;
    this.runtime = s.runtime;
    this.setLogLevel = s.setLogLevel;
    this.subscriptions = s.subscriptions;
    this.principal = s.principal;
    this.cancel = s.cancel;
  }

  get signal(): AbortSignal {
    return this.cancel.signal;
  }
}

export function createCallContext(s: CallStart): CallContext {
  return new Context(s);
}
