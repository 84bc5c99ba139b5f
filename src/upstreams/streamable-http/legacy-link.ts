/**
 * Streamable HTTP toward a legacy upstream (spec 2025-11-25, basic/transports; mcp-protocol.md §4):
 * an `initialize` handshake whose response carries the upstream's own `Mcp-Session-Id`, every
 * later request with that id and `MCP-Protocol-Version`, the optional GET stream for messages
 * unrelated to any call, resumption of cut streams with `Last-Event-ID`, and DELETE at the end.
 * A 404 on the session means it is gone: the link closes and the supervisor builds a new one
 * (side-effecting calls are never replayed).
 */
import type { JsonRpcMessage } from '../../mcp/jsonrpc.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { PendingCall } from '../peer.js';
import type { HttpLinkConfig } from '../http/config.js';
import { discard, exchange, mediaType, parseMessage, readSse, type ResponseHead, type SseCursor, type UpstreamResponse } from '../http/exchange.js';
import { buildRequestHeaders, headerValue, isValidSessionId } from '../http/headers.js';
import { backoffMs, MAX_RETRY_WAIT_MS, pause } from '../http/util.js';
import { isMessageEvent, StreamableHttpLink } from './base.js';

/** Consecutive failed (or empty, short-lived) GET streams after which the link stops reopening it. */
const MAX_GET_FAILURES = 8;
/** A GET stream that lived this long counts as healthy even if it carried nothing. */
const HEALTHY_STREAM_MS = 10_000;

export class LegacyHttpLink extends StreamableHttpLink {
  private sessionId: string | undefined;
  private versionHeader: string | undefined;
  private getStreamState: 'off' | 'open' | 'unsupported' = 'off';

  constructor(cfg: HttpLinkConfig) {
    super(cfg);
  }

  /** The upstream session id (never a downstream client's), for diagnostics and tests. */
  get upstreamSessionId(): string | undefined {
    return this.sessionId;
  }

  /** Whether the optional GET stream is in use ('unsupported' after a 405). */
  get getStream(): 'off' | 'open' | 'unsupported' {
    return this.getStreamState;
  }

  /** Runs the handshake; false when the upstream does not speak legacy Streamable HTTP. */
  async start(): Promise<boolean> {
    if (!(await this.initializeLegacy())) return false;
    this.versionHeader = this.info.protocolVersion;
    await this.flushSidePosts();
    if (this.closed) return false;
    void this.runGetStream();
    return true;
  }

  protected headersFor(msg: JsonRpcMessage, call?: PendingCall): Record<string, string> {
    return buildRequestHeaders({
      static: this.staticHeaders,
      json: true,
      sessionId: this.sessionId,
      protocolVersion: this.versionHeader,
      traceparent: call?.opts?.traceparent,
    });
  }

  protected override onPostResponse(res: ResponseHead, msg: JsonRpcMessage): void {
    if (!('method' in msg) || msg.method !== 'initialize' || res.statusCode !== 200) return;
    const sid = headerValue(res.headers, 'mcp-session-id');
    if (isValidSessionId(sid)) this.sessionId = sid;
  }

  protected override onNotFound(_call: PendingCall | undefined): boolean {
    if (this.sessionId === undefined) return false;
    this.markClosed('session expired');
    return true;
  }

  protected override get canRetryResume(): boolean {
    return true;
  }

  protected override async resumeStream(lastEventId: string, signal: AbortSignal): Promise<UpstreamResponse | undefined> {
    const res = await this.openGet(lastEventId, signal, this.timeouts.totalMs);
    if (res.statusCode === 404 && this.onNotFound(undefined)) {
      discard(res);
      return undefined;
    }
    if (res.statusCode !== 200 || mediaType(res) !== 'text/event-stream') {
      discard(res);
      return undefined;
    }
    return res;
  }

  protected override onStreamLost(call: PendingCall): void {
    // The server may still be working on it; a lost connection is not a cancellation by itself.
    if (!this.closed && call.method !== 'initialize') this.sendCancel(call.id, 'response stream lost');
  }

  private openGet(lastEventId: string | undefined, signal: AbortSignal, bodyTimeoutMs: number): Promise<UpstreamResponse> {
    return exchange(this.lease.pool, {
      method: 'GET',
      url: this.url,
      headers: buildRequestHeaders({
        static: this.staticHeaders,
        accept: 'text/event-stream',
        sessionId: this.sessionId,
        protocolVersion: this.versionHeader,
        lastEventId,
      }),
      signal,
      headersTimeoutMs: this.timeouts.connectMs,
      bodyTimeoutMs,
    });
  }

  /**
   * The GET stream carries messages unrelated to any call (list_changed, resources/updated, and
   * server requests, which the peer attributes only when unambiguous). Reopened with backoff and
   * Last-Event-ID; a 405 means the server does not offer one.
   */
  private async runGetStream(): Promise<void> {
    const cursor: SseCursor = { lastEventId: '', retryMs: undefined };
    let failures = 0;
    while (!this.closed && failures < MAX_GET_FAILURES) {
      const started = Date.now();
      let delivered = false;
      try {
        const res = await this.openGet(cursor.lastEventId || undefined, this.life.signal, 0);
        if (res.statusCode === 405) {
          discard(res);
          this.getStreamState = 'unsupported';
          return;
        }
        if (res.statusCode === 404 && this.onNotFound(undefined)) {
          discard(res);
          return;
        }
        if (res.statusCode === 200 && mediaType(res) === 'text/event-stream') {
          this.getStreamState = 'open';
          await readSse(res, this.maxMessageBytes, cursor, (e) => {
            if (!isMessageEvent(e)) return;
            delivered = true;
            try {
              this.deliver(parseMessage(e.data));
            } catch {
              this.log.debug('upstream sent an invalid message on its GET stream');
            }
          });
        } else discard(res);
      } catch {
        /* network error or oversized event: reopen below */
      }
      if (this.closed) return;
      this.getStreamState = 'off';
      failures = delivered || Date.now() - started > HEALTHY_STREAM_MS ? 0 : failures + 1;
      const wait = cursor.retryMs !== undefined && failures === 0 ? Math.min(cursor.retryMs, MAX_RETRY_WAIT_MS) : backoffMs(failures);
      await pause(wait, this.life.signal);
    }
  }

  protected override async shutdown(): Promise<void> {
    const sid = this.sessionId;
    this.life.abort();
    if (sid !== undefined) {
      // Best effort: a server MAY answer 405, and a dead server must not delay shutdown long.
      try {
        const res = await exchange(this.lease.pool, {
          method: 'DELETE',
          url: this.url,
          headers: buildRequestHeaders({ static: this.staticHeaders, sessionId: sid, protocolVersion: this.versionHeader }),
          signal: AbortSignal.timeout(Math.max(1, Math.min(this.timeouts.connectMs, 5_000))),
          headersTimeoutMs: this.timeouts.connectMs,
          bodyTimeoutMs: this.timeouts.connectMs,
        });
        discard(res);
      } catch {}
    }
    this.lease.release();
  }
}

/**
 * Opens a legacy Streamable HTTP link: initialize, initialized, then the optional GET stream.
 * Throws a GatewayError when the upstream does not complete the handshake.
 */
export async function openLegacyHttpLink(cfg: HttpLinkConfig): Promise<LegacyHttpLink> {
  const link = new LegacyHttpLink(cfg);
  let ok = false;
  try {
    ok = await link.start();
  } finally {
    if (!ok) await link.close();
  }
  if (!ok) throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream ${cfg.name} did not complete the legacy initialize handshake`);
  return link;
}

