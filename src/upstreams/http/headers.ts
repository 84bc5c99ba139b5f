/**
 * Header hygiene for every request toward an upstream. The request headers are built from an
 * allowlist only: the operator's static headers, the transport's own headers, and nothing that
 * came from a downstream client (no token passthrough: mcp-protocol.md §17.3, checklist A5).
 */

/** Headers the transport owns; a static header of the same name is ignored rather than sent twice. */
const TRANSPORT_OWNED = new Set([
  'accept',
  'content-type',
  'content-length',
  'mcp-session-id',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'last-event-id',
  'traceparent',
]);

/** Hop-by-hop and framing headers that undici computes; never taken from config. */
const NEVER_STATIC = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect']);

export const ACCEPT_BOTH = 'application/json, text/event-stream';

export interface HeaderParts {
  /** Operator-configured static headers for this upstream. */
  static: Record<string, string>;
  /** Set on requests that carry a body. */
  json?: boolean;
  accept?: string;
  sessionId?: string;
  protocolVersion?: string;
  /** Modern mirrored headers (Mcp-Method, Mcp-Name, Mcp-Param-*), computed from the body. */
  mirrored?: Record<string, string>;
  traceparent?: string;
  lastEventId?: string;
}

const isHeaderSafe = (v: string): boolean => !/[\r\n\0]/.test(v);

/** Builds the complete header set of one upstream request from allowlisted parts only. */
export function buildRequestHeaders(p: HeaderParts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.static)) {
    const name = k.toLowerCase();
    if (TRANSPORT_OWNED.has(name) || NEVER_STATIC.has(name) || name.startsWith('mcp-param-')) continue;
    if (typeof v === 'string' && isHeaderSafe(v)) out[name] = v;
  }
  out.accept = p.accept ?? ACCEPT_BOTH;
  if (p.json) out['content-type'] = 'application/json';
  if (p.sessionId) out['mcp-session-id'] = p.sessionId;
  if (p.protocolVersion) out['mcp-protocol-version'] = p.protocolVersion;
  if (p.mirrored) {
    for (const [k, v] of Object.entries(p.mirrored)) {
      const name = k.toLowerCase();
      // The protocol version is set above from the link's own state; mirrored values never override it.
      if (name === 'mcp-protocol-version' || !isHeaderSafe(v)) continue;
      if (name === 'mcp-method' || name === 'mcp-name' || name.startsWith('mcp-param-')) out[name] = v;
    }
  }
  if (p.traceparent && isHeaderSafe(p.traceparent)) out.traceparent = p.traceparent;
  if (p.lastEventId && isHeaderSafe(p.lastEventId)) out['last-event-id'] = p.lastEventId;
  return out;
}

/** First value of a response header, whatever shape undici gave it. */
export function headerValue(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A session id is usable only when it is visible ASCII (spec 2025-11-25, transports). */
export const isValidSessionId = (s: string | undefined): s is string => !!s && /^[\x21-\x7e]{1,512}$/.test(s);
