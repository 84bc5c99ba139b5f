/**
 * The deprecated HTTP+SSE transport (spec 2024-11-05; mcp-protocol.md §6): a GET stream whose
 * first `endpoint` event names where to POST, and every server message (responses included)
 * arriving on that one stream. It is multiplexed, so messages are delivered without `via` and the
 * peer attributes them by id and progress token. The stream closing ends the link.
 */
import type { JsonRpcMessage } from '../../mcp/jsonrpc.js';
import type { SseEvent } from '../../mcp/sse.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { PendingCall } from '../peer.js';
import type { HttpLinkConfig } from '../http/config.js';
import { HttpPeer } from '../http/http-peer.js';
import { discard, exchange, mediaType, parseMessage, readSse, transportError, type SseCursor, type UpstreamResponse } from '../http/exchange.js';
import { buildRequestHeaders } from '../http/headers.js';
import { errorOutcome } from '../http/util.js';

/**
 * Resolves the `endpoint` event's value against the SSE URL and refuses any other origin: the
 * upstream must not be able to steer our POSTs (and the operator's static headers) elsewhere.
 */
export function resolveEndpoint(data: string, base: URL): URL | undefined {
  let u: URL;
  try {
    u = new URL(data.trim(), base);
  } catch {
    return undefined;
  }
  return u.origin === base.origin ? u : undefined;
}

export class SseLink extends HttpPeer {
  private endpoint: URL | undefined;

  constructor(cfg: HttpLinkConfig) {
    super(cfg);
  }

  /** Opens the stream, waits for `endpoint`, then runs the legacy handshake over it. */
  async start(): Promise<void> {
    let res: UpstreamResponse;
    try {
      res = await exchange(this.lease.pool, {
        method: 'GET',
        url: this.url,
        headers: buildRequestHeaders({ static: this.staticHeaders, accept: 'text/event-stream' }),
        signal: this.life.signal,
        headersTimeoutMs: this.timeouts.connectMs,
        bodyTimeoutMs: 0,
      });
    } catch (e) {
      throw transportError(e);
    }
    if (res.statusCode !== 200 || mediaType(res) !== 'text/event-stream') {
      discard(res);
      throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `SSE GET answered HTTP ${res.statusCode}`);
    }
    const endpoint = new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => reject(new GatewayError('ERR_UPSTREAM_TIMEOUT', 'No endpoint event from the SSE upstream')), this.timeouts.connectMs);
      timer.unref?.();
      const onEvent = (e: SseEvent): void => {
        if (e.event === 'endpoint') {
          if (this.endpoint) return; // the endpoint is fixed for the life of the stream
          const u = resolveEndpoint(e.data, this.url);
          clearTimeout(timer);
          if (!u) {
            reject(new GatewayError('ERR_UPSTREAM_PROTOCOL', 'SSE endpoint is invalid or on another origin'));
            return;
          }
          this.endpoint = u;
          resolve(u);
          return;
        }
        if ((e.event !== undefined && e.event !== 'message') || e.data.trim() === '') return;
        try {
          this.deliver(parseMessage(e.data));
        } catch {
          this.log.debug('SSE upstream sent an invalid message');
        }
      };
      const cursor: SseCursor = { lastEventId: '', retryMs: undefined };
      readSse(res, this.maxMessageBytes, cursor, onEvent).then(
        () => this.markClosed('SSE stream closed'),
        (err: unknown) => {
          this.markClosed(err instanceof GatewayError ? err.message : 'SSE stream broke');
        },
      ).finally(() => {
        clearTimeout(timer);
        reject(new GatewayError('ERR_UPSTREAM_CLOSED', 'SSE stream closed before the endpoint event'));
      });
    });
    await endpoint;
    if (!(await this.initializeLegacy())) throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', 'SSE upstream did not complete initialize');
    await this.flushSidePosts();
  }

  protected transmit(msg: JsonRpcMessage, call?: PendingCall): void {
    const p = this.post(msg, call);
    if (!call) this.trackSidePost(p);
  }

  private async post(msg: JsonRpcMessage, call?: PendingCall): Promise<void> {
    const endpoint = this.endpoint;
    if (!endpoint) {
      if (call) call.resolve(errorOutcome(new GatewayError('ERR_UPSTREAM_UNAVAILABLE', 'SSE endpoint not known yet')));
      return;
    }
    try {
      const res = await exchange(this.lease.pool, {
        method: 'POST',
        url: endpoint,
        headers: buildRequestHeaders({ static: this.staticHeaders, json: true, traceparent: call?.opts?.traceparent }),
        body: JSON.stringify(msg),
        // A call ends (done aborted) when the link closes too: no per-call AbortSignal.any (it leaks on Node 20).
        signal: call ? call.done.signal : this.life.signal,
        headersTimeoutMs: this.timeouts.connectMs,
        bodyTimeoutMs: this.timeouts.connectMs,
      });
      discard(res);
      // Accepted is as close to a first byte as this transport gets: the answer comes on the stream.
      if (call && res.statusCode < 300) call.sawFirstByte = true;
      if (res.statusCode >= 300) {
        const e = new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `SSE upstream refused a message: HTTP ${res.statusCode}`);
        if (call && !call.done.signal.aborted) call.resolve(errorOutcome(e));
        else this.log.debug({ status: res.statusCode }, 'SSE upstream refused a message');
      }
    } catch (e) {
      if (call && !call.done.signal.aborted) call.resolve(errorOutcome(transportError(e)));
    }
  }
}

/** Opens an HTTP+SSE (2024-11-05) link. Throws a GatewayError when the upstream is not one. */
export async function openSseLink(cfg: HttpLinkConfig): Promise<SseLink> {
  const link = new SseLink(cfg);
  try {
    await link.start();
  } catch (e) {
    await link.close();
    throw e instanceof GatewayError ? e : new GatewayError('ERR_UPSTREAM_UNAVAILABLE', undefined, { cause: e });
  }
  return link;
}
