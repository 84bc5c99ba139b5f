/**
 * Era detection for HTTP upstreams (mcp-protocol.md §2.2): a modern `server/discover` first; a
 * DiscoverResult or a recognised modern error means modern. Otherwise a legacy `initialize`
 * (whose probe session is DELETEd again); if that POST is refused with 400/404/405, the
 * deprecated HTTP+SSE transport (a GET that yields an `endpoint` event). Callers cache the verdict.
 */
import { GATEWAY_CLIENT_CAPABILITIES, GATEWAY_CLIENT_INFO, type PeerTimeouts } from '../peer.js';
import { LATEST_LEGACY_VERSION, META, MODERN_VERSION } from '../../mcp/eras.js';
import { isObject, isResponse, RpcCode, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import { mirroredHeadersFor } from '../../mcp/mirrored-headers.js';
import { SseParser } from '../../mcp/sse.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { UpstreamLink } from '../types.js';
import type { HttpEraVerdict, HttpLinkConfig } from './config.js';
import { discard, exchange, mediaType, parseMessage, readBounded, type UpstreamResponse } from './exchange.js';
import { buildRequestHeaders, headerValue, isValidSessionId } from './headers.js';
import { acquirePool, type PoolLease } from './pool.js';
import { openLegacyHttpLink } from '../streamable-http/legacy-link.js';
import { openModernHttpLink } from '../streamable-http/modern-link.js';
import { openSseLink, resolveEndpoint } from '../sse/link.js';

export type HttpVerdict = HttpEraVerdict;

/** Probe bodies are small; anything larger is not an answer we want to parse. */
const PROBE_MAX_BYTES = 1024 * 1024;
const MODERN_ERRORS = new Set<number>([RpcCode.UnsupportedProtocolVersion, RpcCode.MissingRequiredClientCapability, RpcCode.HeaderMismatch]);

interface ProbeAnswer {
  res: UpstreamResponse;
  msg: JsonRpcMessage | undefined;
}

/** POSTs one probe message and reads the first JSON-RPC message of its answer (JSON or SSE). */
async function probePost(lease: PoolLease, url: URL, headers: Record<string, string>, body: unknown, timeoutMs: number): Promise<ProbeAnswer> {
  const res = await exchange(lease.pool, {
    method: 'POST',
    url,
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
    headersTimeoutMs: timeoutMs,
    bodyTimeoutMs: timeoutMs,
  });
  const type = mediaType(res);
  try {
    if (type === 'application/json') return { res, msg: parseMessage(await readBounded(res, PROBE_MAX_BYTES)) };
    if (type === 'text/event-stream') {
      const parser = new SseParser({ maxEventBytes: PROBE_MAX_BYTES });
      for await (const chunk of res.body) {
        for (const e of parser.push(chunk as Buffer)) {
          if ((e.event !== undefined && e.event !== 'message') || e.data.trim() === '') continue;
          const m = parseMessage(e.data);
          if (isResponse(m)) {
            discard(res);
            return { res, msg: m };
          }
        }
      }
    }
  } catch {
    /* unparseable: not an answer */
  }
  discard(res);
  return { res, msg: undefined };
}

function isModernAnswer(a: ProbeAnswer): boolean {
  const m = a.msg;
  if (!m || !isResponse(m)) return false;
  if ('result' in m) return Array.isArray(m.result.supportedVersions);
  if (a.res.statusCode !== 400) return false;
  const { code, data } = m.error;
  if (code === RpcCode.UnsupportedProtocolVersion) return isObject(data) && Array.isArray(data.supported);
  return MODERN_ERRORS.has(code);
}

async function tryModern(lease: PoolLease, url: URL, headers: Record<string, string>, timeoutMs: number): Promise<boolean> {
  const body = {
    jsonrpc: '2.0' as const,
    id: 1,
    method: 'server/discover',
    params: {
      _meta: {
        [META.protocolVersion]: MODERN_VERSION,
        [META.clientCapabilities]: GATEWAY_CLIENT_CAPABILITIES,
        [META.clientInfo]: GATEWAY_CLIENT_INFO,
      },
    },
  };
  const h = buildRequestHeaders({ static: headers, json: true, protocolVersion: MODERN_VERSION, mirrored: mirroredHeadersFor(body) });
  try {
    return isModernAnswer(await probePost(lease, url, h, body, timeoutMs));
  } catch {
    return false;
  }
}

/** 'yes' when legacy initialize worked, 'refused' on 400/404/405, 'no' otherwise. */
async function tryLegacy(lease: PoolLease, url: URL, headers: Record<string, string>, timeoutMs: number): Promise<'yes' | 'refused' | 'no'> {
  const body = {
    jsonrpc: '2.0' as const,
    id: 1,
    method: 'initialize',
    params: { protocolVersion: LATEST_LEGACY_VERSION, capabilities: GATEWAY_CLIENT_CAPABILITIES, clientInfo: GATEWAY_CLIENT_INFO },
  };
  let a: ProbeAnswer;
  try {
    a = await probePost(lease, url, buildRequestHeaders({ static: headers, json: true }), body, timeoutMs);
  } catch {
    return 'no';
  }
  const status = a.res.statusCode;
  const m = a.msg;
  if (status === 200 && m && isResponse(m) && 'result' in m && typeof m.result.protocolVersion === 'string') {
    const sid = headerValue(a.res.headers, 'mcp-session-id');
    if (isValidSessionId(sid)) {
      // Drop the probe's session so it does not linger on the upstream until its idle timeout.
      try {
        const del = await exchange(lease.pool, {
          method: 'DELETE',
          url,
          headers: buildRequestHeaders({ static: headers, sessionId: sid, protocolVersion: m.result.protocolVersion }),
          signal: AbortSignal.timeout(timeoutMs),
          headersTimeoutMs: timeoutMs,
          bodyTimeoutMs: timeoutMs,
        });
        discard(del);
      } catch {}
    }
    return 'yes';
  }
  return status === 400 || status === 404 || status === 405 ? 'refused' : 'no';
}

async function trySse(lease: PoolLease, url: URL, headers: Record<string, string>, timeoutMs: number): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await exchange(lease.pool, {
      method: 'GET',
      url,
      headers: buildRequestHeaders({ static: headers, accept: 'text/event-stream' }),
      signal: ac.signal,
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs: timeoutMs,
    });
    if (res.statusCode !== 200 || mediaType(res) !== 'text/event-stream') {
      discard(res);
      return false;
    }
    const parser = new SseParser({ maxEventBytes: 64 * 1024 });
    for await (const chunk of res.body) {
      for (const e of parser.push(chunk as Buffer)) {
        if (e.event === 'endpoint') {
          discard(res);
          return resolveEndpoint(e.data, url) !== undefined;
        }
      }
    }
    return false;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/**
 * Finds out which transport and era an HTTP upstream speaks. Each step is bounded by the connect
 * timeout. Throws ERR_UPSTREAM_UNAVAILABLE when no step recognises an MCP server.
 */
export async function probeHttpEra(url: string, headers: Record<string, string>, timeouts: PeerTimeouts): Promise<HttpVerdict> {
  const u = new URL(url);
  const timeoutMs = timeouts.connectMs > 0 ? timeouts.connectMs : 10_000;
  const lease = acquirePool(u, timeoutMs);
  try {
    if (await tryModern(lease, u, headers, timeoutMs)) return { transport: 'streamable-http', era: 'modern' };
    const legacy = await tryLegacy(lease, u, headers, timeoutMs);
    if (legacy === 'yes') return { transport: 'streamable-http', era: 'legacy' };
    if (legacy === 'refused' && (await trySse(lease, u, headers, timeoutMs))) return { transport: 'sse', era: 'legacy' };
    throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', 'Upstream does not answer like an MCP server (Streamable HTTP or HTTP+SSE)');
  } finally {
    lease.release();
  }
}

/** Opens the link kind a verdict calls for. */
export function openHttpLink(cfg: HttpLinkConfig, verdict: HttpVerdict): Promise<UpstreamLink> {
  if (verdict.transport === 'sse') return openSseLink(cfg);
  return verdict.era === 'modern' ? openModernHttpLink(cfg) : openLegacyHttpLink(cfg);
}
