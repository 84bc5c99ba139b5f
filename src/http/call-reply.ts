/**
 * The reply to one downstream POST request, which is also that call's CallSink. It answers with
 * plain JSON when nothing but the response is sent, and switches to an SSE stream the moment
 * the call produces a related message first (progress, a log message, a server-to-client
 * request): everything a call causes returns on the stream of the request that caused it.
 *
 * Legacy sessions: events carry session-unique ids and are buffered for Last-Event-ID
 * resumption; a dropped connection does not cancel the call (spec 2025-11-25 transports).
 * Modern: no ids, no resumption; the client closing the stream cancels the call.
 */
import type { ServerResponse } from 'node:http';
import { formatSseEvent, sseComment } from '../mcp/sse.js';
import type { CallOutcome, JsonRpcMessage, JsonRpcNotification, JsonRpcResponse } from '../mcp/jsonrpc.js';
import type { CallSink } from '../upstreams/types.js';
import type { LegacySession, SessionStream } from '../sessions/session.js';
import { GatewayError } from '../pipeline/errors.js';
import { missingCapability } from '../mcp/client-features.js';
import { retryAfter } from '../ratelimit/http.js';
import { rememberResultText } from '../mcp/result-text.js';

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const levelRank = (l: unknown): number => (typeof l === 'string' ? LOG_LEVELS.indexOf(l) : -1);

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** The SSE response headers as a flat name/value list (writeHead takes one without building an object per reply). */
const SSE_HEADER_LIST: readonly string[] = Object.entries(SSE_HEADERS).flat();
/**
 * A reply written whole in one write, with its Content-Length: no proxy buffering to switch off
 * and no connection to hold open beyond Node's own keep-alive, so only its type and caching.
 */
const ONE_SHOT_SSE_HEADER_LIST: readonly string[] = ['content-type', SSE_HEADERS['content-type'], 'cache-control', SSE_HEADERS['cache-control']];

export interface ReplyOptions {
  /** Legacy: the session (its id goes out as Mcp-Session-Id on every reply). Modern: undefined. */
  session: LegacySession | undefined;
  /** Modern per-request log level: without one, a modern client gets no log messages. */
  logLevel: string | undefined;
  clientCapabilities: Record<string, unknown>;
  /** Called when a modern client closes its stream before the response: that is cancellation. */
  onClientGone: () => void;
  /**
   * Open the SSE stream at once (legacy calls that go upstream): the priming event gives the
   * client an event id to resume from if the connection drops during a long call (SEP-1699).
   */
  streamNow?: boolean;
}

/** Reconnection delay suggested to clients in priming events. */
const RETRY_MS = 1000;
/**
 * A forwarded call that is still running after this long gets its stream opened and primed;
 * one that finishes sooner is answered in a single write (headers, priming event and result
 * together), which is most calls and saves the socket writes that dominate gateway CPU.
 */
const PRIME_AFTER_MS = 50;

/**
 * The response serialised, or, if it cannot be, an internal error for the same id: an
 * upstream result too deeply nested for JSON.stringify must not leave the client hanging.
 */
export function relayable(response: JsonRpcResponse): string {
  try {
    const id = response.id;
    if ('result' in response && (typeof id === 'string' || typeof id === 'number')) {
      // The same bytes as JSON.stringify(success(id, result)), with the result's text kept for the audit HMAC.
      const text = JSON.stringify(response.result) as string | undefined;
      if (text !== undefined) {
        rememberResultText(response.result, text);
        return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${text}}`;
      }
    }
    return JSON.stringify(response);
  } catch {
    return JSON.stringify({ jsonrpc: '2.0', id: response.id, error: new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Upstream result could not be relayed').toRpcError() });
  }
}

export class CallReply implements CallSink {
  private sse = false;
  private stream: SessionStream | undefined;
  private finished = false;
  private primeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: ReplyOptions,
  ) {
    // A legacy call outlives its connection (it can be resumed); only a modern one is cancelled.
    if (!opts.session) {
      res.once('close', () => {
        if (!this.finished) this.opts.onClientGone();
      });
    }
    if (opts.streamNow) {
      this.primeTimer = setTimeout(() => this.startSse(), PRIME_AFTER_MS);
      this.primeTimer.unref();
    }
  }

  notify(msg: JsonRpcNotification): void {
    if (this.finished) return;
    if (msg.method === 'notifications/message') {
      const min = this.opts.session ? this.opts.session.logLevel : this.opts.logLevel;
      // Modern requests without a logLevel get no logs (spec 2026-07-28); legacy sessions get all until setLevel.
      if (!this.opts.session && min === undefined) return;
      if (min !== undefined && levelRank(msg.params?.level) < levelRank(min)) return;
    }
    this.write(msg);
  }

  async request(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallOutcome> {
    const need = missingCapability(method, this.opts.clientCapabilities);
    if (need !== undefined) {
      return { error: new GatewayError('ERR_CLIENT_CAPABILITY', `The client did not declare ${need}`).toRpcError() };
    }
    const session = this.opts.session;
    if (!session || this.finished) {
      return { error: new GatewayError('ERR_CLIENT_CAPABILITY', 'Server-to-client requests need a legacy session stream').toRpcError() };
    }
    this.startSse();
    return session.requestClient(this.stream!, method, params, signal);
  }

  keepAlive(): void {
    if (this.sse && !this.finished && !this.res.writableEnded && !this.res.destroyed) this.res.write(sseComment('keep-alive'));
  }

  /** Sends the final response and ends the stream (or answers as plain JSON if no stream was opened). */
  finish(response: JsonRpcResponse, status = 200): void {
    if (this.finished) return;
    const data = relayable(response);
    this.finished = true;
    clearTimeout(this.primeTimer);
    if (!this.sse && this.opts.streamNow && this.opts.session) {
      this.finishOneShot(data, this.opts.session);
      return;
    }
    if (!this.sse) {
      if (!this.res.headersSent && !this.res.destroyed) {
        const headers = this.headerList();
        const retry = status === 429 || status === 503 ? retryAfter(response) : undefined;
        if (retry) headers.push('retry-after', retry);
        headers.push('content-type', 'application/json', 'content-length', String(Buffer.byteLength(data)));
        this.res.writeHead(status, headers);
        this.res.end(data);
      }
      return;
    }
    if (this.stream) {
      this.stream.sendText(data);
      this.stream.end();
    } else if (!this.res.writableEnded) {
      this.res.end(formatSseEvent({ data }));
    }
  }

  /** The whole SSE reply of a call that finished before its stream was opened, in one write. */
  private finishOneShot(data: string, session: LegacySession): void {
    if (this.res.headersSent || this.res.destroyed) return;
    // The client has the whole reply in this one write: nothing to buffer for resumption, and no
    // stream to keep (only its id, which the event ids name).
    const stream = session.reserveStreamId();
    let body = session.protocolVersion >= '2025-11-25' ? formatSseEvent({ id: session.eventId(stream), data: '', retry: RETRY_MS }) : '';
    body += formatSseEvent({ id: session.eventId(stream), data });
    const headers = this.headerList(ONE_SHOT_SSE_HEADER_LIST);
    headers.push('content-length', String(Buffer.byteLength(body)));
    this.res.writeHead(200, headers);
    this.res.end(body);
  }

  /** The reply's own headers (Mcp-Session-Id for legacy sessions) followed by `more`, as a flat list. */
  private headerList(more: readonly string[] = []): string[] {
    const session = this.opts.session;
    return session ? ['mcp-session-id', session.id, ...more] : [...more];
  }

  private write(msg: JsonRpcMessage): void {
    this.startSse();
    if (this.stream) this.stream.send(msg);
    else if (!this.res.writableEnded && !this.res.destroyed) this.res.write(formatSseEvent({ data: JSON.stringify(msg) }));
  }

  private startSse(): void {
    if (this.sse) return;
    this.sse = true;
    if (!this.res.headersSent && !this.res.destroyed) this.res.writeHead(200, this.headerList(SSE_HEADER_LIST));
    const session = this.opts.session;
    if (session) {
      this.stream = session.openStream();
      this.stream.attach(this.res);
      if (session.protocolVersion >= '2025-11-25') this.stream.prime(RETRY_MS);
    }
  }
}
