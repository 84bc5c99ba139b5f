/**
 * The contract between the data plane and the upstream adapters. An adapter gives the pipeline
 * an UpstreamLink: one logical MCP connection to an upstream (a stdio process, a legacy HTTP
 * session, or a modern stateless endpoint). The pipeline never sees upstream JSON-RPC ids:
 * links remap them, and route everything a call causes back through that call's CallSink.
 */
import type { Era } from '../mcp/eras.js';
import type { CallOutcome, JsonRpcNotification } from '../mcp/jsonrpc.js';

/**
 * The part of an AbortSignal the call path uses: a flag and `abort` listeners. An AbortSignal is
 * one; so is the pipeline's CallCancel, which costs far less per call than Node's EventTarget.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Where the messages a call causes go: the stream of the downstream request that caused them. */
export interface CallSink {
  /** A notification related to this call: progress (token already mapped back) or a log message. */
  notify(msg: JsonRpcNotification): void;
  /**
   * A server-to-client request (sampling, elicitation, roots) raised during this call.
   * Resolves with the client's answer, or an error outcome if the client cannot take it.
   */
  request(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallOutcome>;
  /** A keep-alive on the call's open stream (an SSE comment), for long-lived listen streams. */
  keepAlive?(): void;
}

export interface CallOptions {
  sink: CallSink;
  /** Aborting cancels the call upstream (notifications/cancelled, or closing a modern stream). */
  signal: CancelSignal;
  /** Extra headers for this hop (modern mirrored headers are computed by the link itself). */
  traceparent?: string;
  /** The downstream client's declared capabilities, used for modern `_meta` toward the upstream. */
  clientCapabilities?: Record<string, unknown>;
  /** Modern per-request log level, when the client asked for logs. */
  logLevel?: string;
  /** Overrides the upstream's total deadline for this call; 0 means none (long-lived listen streams). */
  totalMs?: number;
}

/** What a link learned at its handshake (initialize result, or server/discover result). */
export interface UpstreamInfo {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string; [k: string]: unknown };
  instructions?: string;
}

/** Events a link raises that belong to no call (list changes, resource updates, closure). */
export type LinkEvent =
  | { type: 'notification'; msg: JsonRpcNotification }
  | { type: 'closed'; reason: string };

export interface UpstreamLink {
  readonly era: Era;
  readonly info: UpstreamInfo;
  /** Sends one request and resolves with its outcome. Never rejects: failures are error outcomes. */
  call(method: string, params: Record<string, unknown> | undefined, opts: CallOptions): Promise<CallOutcome>;
  /** Sends a notification that belongs to no call (e.g. notifications/roots/list_changed). */
  notify(method: string, params?: Record<string, unknown>): void;
  onEvent(handler: (e: LinkEvent) => void): void;
  /** Number of calls in flight, for load balancing and graceful recycling. */
  readonly inFlight: number;
  readonly closed: boolean;
  close(): Promise<void>;
}

/** The identity used to choose a link for sharing modes other than `shared`. */
export interface LinkKey {
  principal: string;
  session?: string;
}
