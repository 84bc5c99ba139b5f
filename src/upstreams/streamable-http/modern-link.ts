/**
 * Streamable HTTP toward a modern upstream (spec 2026-07-28, basic/transports/streamable-http;
 * mcp-protocol.md §5): stateless POSTs only, `_meta` stamped by the peer, the standard mirrored
 * headers regenerated from the body we send (never copied from the client), and cancellation by
 * closing the request's stream. An upstream `-32020` is surfaced as is: re-listing the tool's
 * annotations and retrying is the catalogue's job.
 */
import { MODERN_VERSION } from '../../mcp/eras.js';
import { isResponse, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import { mirroredHeadersFor } from '../../mcp/mirrored-headers.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { PendingCall } from '../peer.js';
import type { HttpLinkConfig } from '../http/config.js';
import { buildRequestHeaders } from '../http/headers.js';
import { StreamableHttpLink } from './base.js';

/** Tool name → (header name → argument path), from the tools' `x-mcp-header` annotations. */
export type ToolParamMaps = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

export class ModernHttpLink extends StreamableHttpLink {
  private paramMaps: ToolParamMaps = new Map();

  constructor(cfg: HttpLinkConfig) {
    super(cfg);
    this.era = 'modern';
  }

  /** Runs `server/discover`; false when the upstream is not a modern server. */
  async start(): Promise<boolean> {
    return (await this.discoverModern()) === 'modern';
  }

  /** Installs the `x-mcp-header` maps of the upstream's tools (the catalogue computes them). */
  setToolParamMaps(maps: ToolParamMaps): void {
    this.paramMaps = maps;
  }

  protected headersFor(msg: JsonRpcMessage, call?: PendingCall): Record<string, string> {
    const body = msg as { method: string; params?: Record<string, unknown> };
    const tool = body.method === 'tools/call' && typeof body.params?.name === 'string' ? body.params.name : undefined;
    return buildRequestHeaders({
      static: this.staticHeaders,
      json: true,
      protocolVersion: MODERN_VERSION,
      mirrored: mirroredHeadersFor(body, tool !== undefined ? this.paramMaps.get(tool) : undefined),
      traceparent: call?.opts?.traceparent,
    });
  }

  protected override transmit(msg: JsonRpcMessage, call?: PendingCall): void {
    // Modern clients MUST NOT send responses: a server request on a modern stream is a protocol
    // violation that the peer answers; the answer is dropped here instead of being POSTed.
    if (isResponse(msg)) return;
    super.transmit(msg, call);
  }

  /** Closing the request's stream is the cancellation (the peer aborts it when the call ends). */
  protected override sendCancel(_id: number, _reason: string): void {}
}

/** Opens a modern Streamable HTTP link (server/discover). Throws when the upstream is not modern. */
export async function openModernHttpLink(cfg: HttpLinkConfig): Promise<ModernHttpLink> {
  const link = new ModernHttpLink(cfg);
  let ok = false;
  try {
    ok = await link.start();
  } finally {
    if (!ok) await link.close();
  }
  if (!ok) throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream ${cfg.name} did not answer server/discover like a modern server`);
  return link;
}
