/**
 * A legacy (2025-era) downstream session: created by `initialize`, named by a CSPRNG
 * `Mcp-Session-Id`, bound to the principal and the endpoint that created it. It owns the SSE
 * streams of its requests, a bounded buffer of sent events for `Last-Event-ID` resumption, the
 * calls in flight (for notifications/cancelled) and the server-to-client requests awaiting the
 * client's answer.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { formatSseEvent } from '../mcp/sse.js';
import type { CallOutcome, JsonRpcId, JsonRpcMessage, JsonRpcNotification, JsonRpcResponse } from '../mcp/jsonrpc.js';
import type { Principal } from '../pipeline/context.js';
import { CallTable } from '../runtime/call-table.js';

/** 128 bits from the CSPRNG, base64url: visible ASCII as the transport requires. */
export const newSessionId = (): string => randomBytes(16).toString('base64url');

/** Upper bound on what one session keeps for resumption (characters of SSE frames, ~1 MiB). */
const MAX_BUFFER_CHARS = 1 << 20;

/** Stream 0 is the session's GET stream; POST streams count up from 1. */
export const GET_STREAM = 0;

/**
 * The transport that created a session: Streamable HTTP (`initialize` on `/mcp`) or the
 * deprecated HTTP+SSE transport (`GET /sse`). A session is served only by its own transport's
 * routes: the two are never mixed on one session.
 */
export type SessionTransport = 'streamable-http' | 'sse';

interface BufferedEvent {
  stream: number;
  seq: number;
  frame: string;
}

/** One outgoing SSE stream of the session: written live while a response is attached, buffered always. */
export class SessionStream {
  res: ServerResponse | undefined;
  ended = false;
  constructor(
    readonly id: number,
    private readonly session: LegacySession,
  ) {}

  attach(res: ServerResponse): void {
    this.res = res;
    res.once('close', () => {
      if (this.res === res) this.res = undefined;
      // A session stops listening when its GET stream goes: its idle time counts from now.
      if (this.id === GET_STREAM) this.session.lastSeen = Date.now();
    });
  }

  /** Writes one message as an SSE event with a session-unique id, and keeps it for resumption. */
  send(msg: JsonRpcMessage): void {
    this.sendText(JSON.stringify(msg));
  }

  /** Sends an already serialised message. */
  sendText(data: string): void {
    const frame = this.session.record(this.id, (id) => formatSseEvent({ id, data }));
    const res = this.res;
    if (res && !res.writableEnded && !res.destroyed) res.write(frame);
  }

  /** A priming event (id, empty data) so the client can resume even before the first message (SEP-1699). */
  prime(retryMs?: number): void {
    const frame = this.session.record(this.id, (id) => formatSseEvent(retryMs === undefined ? { id, data: '' } : { id, data: '', retry: retryMs }));
    this.res?.write(frame);
  }

  end(): void {
    this.ended = true;
    const res = this.res;
    this.res = undefined;
    if (res && !res.writableEnded && !res.destroyed) {
      res.end();
      this.session.forget(this.id);
    }
    if (this.id !== GET_STREAM) this.session.streams.delete(this.id);
  }
}

interface PendingClientRequest {
  resolve(o: CallOutcome): void;
}

export class LegacySession {
  readonly id = newSessionId();
  readonly createdAt = Date.now();
  lastSeen = Date.now();
  initialized = false;
  logLevel: string | undefined;
  closed = false;
  readonly streams = new CallTable<number, SessionStream>();
  readonly inFlight = new CallTable<JsonRpcId, { abort(): void }>();
  readonly subscriptions = new Set<string>();
  private readonly pendingClient = new CallTable<string, PendingClientRequest>();
  private readonly buffer: BufferedEvent[] = [];
  private bufferChars = 0;
  private nextStream = 1;
  private nextEvent = 0;
  private nextClientRequest = 0;

  constructor(
    readonly endpoint: string,
    readonly principal: Principal,
    /** Mutable only for 2024-11-05 sessions, which exist (GET /sse) before their initialize. */
    public protocolVersion: string,
    public clientCapabilities: Record<string, unknown>,
    private readonly bufferLimit: number,
    readonly transport: SessionTransport,
  ) {}

  /** A client holding its GET stream open is listening, not idle. */
  isListening(): boolean {
    const res = this.streams.get(GET_STREAM)?.res;
    return res !== undefined && !res.destroyed;
  }

  /**
   * A session with a call in flight or its GET stream open is busy: never idle (so never
   * expired), and never evicted for a newcomer.
   */
  isBusy(): boolean {
    return this.inFlight.size > 0 || this.isListening();
  }

  /** A call of this session has settled: it is no longer in flight, and the idle time counts from now. */
  settle(id: JsonRpcId): void {
    this.inFlight.delete(id);
    this.lastSeen = Date.now();
  }

  /** The id of a POST stream that is written in one piece and never kept (a one-shot reply). */
  reserveStreamId(): number {
    return this.nextStream++;
  }

  openStream(): SessionStream {
    const s = new SessionStream(this.nextStream++, this);
    this.streams.set(s.id, s);
    return s;
  }

  getStream(): SessionStream {
    let s = this.streams.get(GET_STREAM);
    if (!s) {
      s = new SessionStream(GET_STREAM, this);
      this.streams.set(GET_STREAM, s);
    }
    return s;
  }

  /** The next session-unique event id (`<stream>.<seq>`: it names its stream, as resumption needs). */
  eventId(stream: number): string {
    return `${stream}.${++this.nextEvent}`;
  }

  /** Assigns the next event id and keeps the frame for resumption, within the count and byte bounds. */
  record(stream: number, make: (eventId: string) => string): string {
    const seq = ++this.nextEvent;
    const frame = make(`${stream}.${seq}`);
    if (this.bufferLimit > 0 && frame.length <= MAX_BUFFER_CHARS) {
      this.buffer.push({ stream, seq, frame });
      this.bufferChars += frame.length;
      while (this.buffer.length > this.bufferLimit || this.bufferChars > MAX_BUFFER_CHARS) {
        this.bufferChars -= this.buffer.shift()!.frame.length;
      }
    }
    return frame;
  }

  /** A stream whose response reached a live connection needs no replay: its frames are dropped. */
  forget(stream: number): void {
    if (!this.buffer.some((e) => e.stream === stream)) return;
    const kept = this.buffer.filter((e) => e.stream !== stream);
    this.buffer.length = 0;
    this.buffer.push(...kept);
    this.bufferChars = kept.reduce((n, e) => n + e.frame.length, 0);
  }

  /** Frames of `stream` after `seq` that are still buffered (never another stream's). */
  replay(stream: number, seq: number): string[] {
    return this.buffer.filter((e) => e.stream === stream && e.seq > seq).map((e) => e.frame);
  }

  /** Sends a server-to-client request on `stream` and waits for the client's answer (routed back by id). */
  requestClient(stream: SessionStream, method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallOutcome> {
    if (this.closed || signal.aborted) return Promise.resolve({ error: { code: -32800, message: 'Request cancelled' } });
    const id = `pc-${++this.nextClientRequest}`;
    return new Promise<CallOutcome>((resolve) => {
      const done = (o: CallOutcome): void => {
        if (!this.pendingClient.delete(id)) return;
        signal.removeEventListener('abort', onAbort);
        resolve(o);
      };
      const onAbort = (): void => {
        stream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'request ended' } });
        done({ error: { code: -32800, message: 'Request cancelled' } });
      };
      this.pendingClient.set(id, { resolve: done });
      signal.addEventListener('abort', onAbort, { once: true });
      stream.send(params ? { jsonrpc: '2.0', id, method, params } : { jsonrpc: '2.0', id, method });
    });
  }

  /** A response POSTed by the client; false if it answers nothing we asked. */
  answerClientRequest(id: JsonRpcId, o: CallOutcome): boolean {
    const p = typeof id === 'string' ? this.pendingClient.get(id) : undefined;
    if (!p) return false;
    p.resolve(o);
    return true;
  }

  /**
   * A message from the client that is not a request: an answer to one of our server-to-client
   * requests, or a notification (initialized; cancelled, which aborts that call in flight).
   */
  receive(msg: JsonRpcResponse | JsonRpcNotification): void {
    if (!('method' in msg)) {
      if (msg.id !== null) this.answerClientRequest(msg.id, 'error' in msg ? { error: msg.error } : { result: msg.result });
      return;
    }
    if (msg.method === 'notifications/initialized') this.initialized = true;
    else if (msg.method === 'notifications/cancelled') {
      const rid = msg.params?.requestId;
      if (typeof rid === 'string' || typeof rid === 'number') this.inFlight.get(rid)?.abort();
    }
  }

  /** Ends everything the session holds: calls in flight are cancelled, streams closed, waiters released. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.inFlight.values()) c.abort();
    this.inFlight.clear();
    for (const p of this.pendingClient.values()) p.resolve({ error: { code: -32800, message: 'Session closed' } });
    this.pendingClient.clear();
    for (const s of this.streams.values()) s.end();
    this.streams.clear();
    this.buffer.length = 0;
    this.bufferChars = 0;
  }
}
