/**
 * What both Streamable HTTP eras share: one POST per outgoing message, and a response that is
 * either one JSON message or an SSE stream scoped to that request. Every message read from a
 * call's own response stream is delivered with `via = call` (request-scoped routing, §10), so a
 * progress notification or a sampling request can never reach another client's call.
 */
import { isResponse, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import type { SseEvent } from '../../mcp/sse.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { PendingCall } from '../peer.js';
import { HttpPeer } from '../http/http-peer.js';
import {
  discard,
  exchange,
  mediaType,
  parseMessage,
  readSse,
  transportError,
  type ResponseHead,
  type SseCursor,
  type UpstreamResponse,
} from '../http/exchange.js';
import { exchangeCall, type CallAnswer } from '../http/call-exchange.js';
import { errorOutcome, MAX_RETRY_WAIT_MS, pause } from '../http/util.js';

/** How many times a cut POST stream is resumed with GET + Last-Event-ID before the call fails. */
const MAX_RESUMES = 5;

/** True for the SSE events that carry MCP messages (the default type, or `message`). */
export const isMessageEvent = (e: SseEvent): boolean => (e.event === undefined || e.event === 'message') && e.data.trim() !== '';

export abstract class StreamableHttpLink extends HttpPeer {
  /** The full header set for POSTing `msg` (the call it belongs to, if it is a request). */
  protected abstract headersFor(msg: JsonRpcMessage, call?: PendingCall): Record<string, string>;

  /** Called with the response headers of every POST, before its body is read. */
  protected onPostResponse(_res: ResponseHead, _msg: JsonRpcMessage): void {}

  /** Handles a 404 on a POST; returns true when it did (legacy: the session is gone). */
  protected onNotFound(_call: PendingCall | undefined): boolean {
    return false;
  }

  /**
   * Resumes a cut POST stream (legacy only: SEP-1699 polling). Returns the resumed response,
   * or undefined when this era or this server cannot resume.
   */
  protected resumeStream(_lastEventId: string, _signal: AbortSignal): Promise<UpstreamResponse | undefined> {
    return Promise.resolve(undefined);
  }

  /** Called when a call's stream is lost for good (legacy tells the upstream it can stop). */
  protected onStreamLost(_call: PendingCall): void {}

  protected transmit(msg: JsonRpcMessage, call?: PendingCall): void {
    if (call) {
      void this.postCall(msg, call);
      return;
    }
    this.trackSidePost(this.postSide(msg));
  }

  private headersTimeoutFor(call: PendingCall): number {
    if (!call.opts) return this.timeouts.connectMs;
    const { firstByteMs, totalMs } = this.timeouts;
    return firstByteMs > 0 && (totalMs <= 0 || firstByteMs < totalMs) ? firstByteMs : totalMs;
  }

  private bodyTimeoutFor(call: PendingCall): number {
    return call.opts ? this.timeouts.totalMs : this.timeouts.connectMs;
  }

  private fail(call: PendingCall, e: GatewayError): void {
    if (!call.ended) call.resolve(errorOutcome(e));
  }

  /** POSTs a request and routes everything its response carries to that call. */
  private async postCall(msg: JsonRpcMessage, call: PendingCall): Promise<void> {
    let answer: CallAnswer;
    try {
      const request = {
        method: 'POST' as const,
        url: this.url,
        headers: this.headersFor(msg, call),
        body: JSON.stringify(msg),
        headersTimeoutMs: this.headersTimeoutFor(call),
        bodyTimeoutMs: this.bodyTimeoutFor(call),
      };
      answer = await exchangeCall(this.lease.pool, request, this.maxMessageBytes, (stop) => call.onEnd(stop));
    } catch (e) {
      this.fail(call, transportError(e));
      return;
    }
    const res = answer.stream;
    if (call.ended) {
      if (res) discard(res);
      return;
    }
    call.sawFirstByte = true;
    try {
      this.onPostResponse(answer, msg);
      if (answer.statusCode === 404 && this.onNotFound(call)) {
        if (res) discard(res);
        return;
      }
      if (answer.text !== undefined) {
        // Modern servers answer 400/404 with a JSON-RPC error body: that is the call's outcome.
        const m = parseMessage(answer.text);
        if (isResponse(m) && ('error' in m || m.id === call.id)) {
          call.resolve('error' in m ? { error: m.error } : { result: m.result });
          return;
        }
        if (answer.statusCode < 300) this.deliver(m, call);
        this.fail(call, new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Upstream answered without a response'));
        return;
      }
      const type = mediaType(answer.stream);
      if (answer.statusCode === 200 && type === 'text/event-stream') {
        await this.consumeCallStream(answer.stream, call);
        return;
      }
      discard(answer.stream);
      this.fail(call, new GatewayError(answer.statusCode >= 400 ? 'ERR_UPSTREAM_UNAVAILABLE' : 'ERR_UPSTREAM_PROTOCOL', `Upstream answered HTTP ${answer.statusCode} (${type || 'no content type'})`));
    } catch (e) {
      if (!call.ended) this.log.debug({ err: (e as Error).message, method: call.method }, 'upstream call failed');
      this.fail(call, transportError(e));
    }
  }

  /**
   * Reads a call's SSE stream to its end. If it ends (or breaks) before the response and the
   * server gave event ids, resumes it with GET + Last-Event-ID, waiting at most `retry:` (capped).
   */
  private async consumeCallStream(first: UpstreamResponse, call: PendingCall): Promise<void> {
    const cursor: SseCursor = { lastEventId: '', retryMs: undefined };
    const onEvent = (e: SseEvent): void => {
      if (!isMessageEvent(e)) return; // priming events and comments carry no message
      this.deliver(parseMessage(e.data), call);
    };
    let res: UpstreamResponse | undefined = first;
    for (let attempt = 0; ; attempt++) {
      if (res) {
        try {
          await readSse(res, this.maxMessageBytes, cursor, onEvent);
        } catch (e) {
          if (e instanceof GatewayError) {
            // oversized or malformed message: this call is lost, the link is not
            this.fail(call, e);
            this.onStreamLost(call);
            return;
          }
          /* network cut: try to resume below */
        }
      }
      if (call.done.signal.aborted || this.closed) return;
      if (cursor.lastEventId === '' || attempt >= MAX_RESUMES) break;
      await pause(Math.min(cursor.retryMs ?? 100, MAX_RETRY_WAIT_MS), call.done.signal);
      if (call.done.signal.aborted || this.closed) return;
      try {
        res = await this.resumeStream(cursor.lastEventId, call.done.signal);
      } catch {
        res = undefined;
      }
      if (res === undefined && this.closed) return;
      if (res === undefined && !this.canRetryResume) break;
    }
    this.fail(call, new GatewayError('ERR_UPSTREAM_CLOSED', 'Upstream stream ended before the response'));
    this.onStreamLost(call);
  }

  /** Whether a failed resume attempt may be retried (false for eras without resumption). */
  protected get canRetryResume(): boolean {
    return false;
  }

  /** POSTs a notification or an answer to a server request; expects 202. */
  private async postSide(msg: JsonRpcMessage): Promise<void> {
    try {
      const res = await exchange(this.lease.pool, {
        method: 'POST',
        url: this.url,
        headers: this.headersFor(msg),
        body: JSON.stringify(msg),
        signal: this.life.signal,
        headersTimeoutMs: this.timeouts.connectMs,
        bodyTimeoutMs: this.timeouts.connectMs,
      });
      this.onPostResponse(res, msg);
      discard(res);
      if (res.statusCode === 404 && this.onNotFound(undefined)) return;
      if (res.statusCode >= 300) this.log.debug({ status: res.statusCode, method: 'method' in msg ? msg.method : 'response' }, 'upstream refused a message');
    } catch (e) {
      if (!this.life.signal.aborted) this.log.debug({ err: (e as Error).message }, 'upstream message POST failed');
    }
  }
}
