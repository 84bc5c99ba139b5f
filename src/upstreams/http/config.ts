/**
 * What an HTTP upstream adapter needs to know, kept independent of the config schema so the
 * adapters can be built and tested on their own (the config compiler maps into this shape).
 */
import type { Logger } from '../../observability/logger.js';
import type { PeerTimeouts } from '../peer.js';

export interface HttpLinkConfig {
  /** Upstream name, used in logs and error messages only. */
  name: string;
  /** The MCP endpoint (Streamable HTTP) or the SSE URL (HTTP+SSE 2024-11-05). */
  url: string;
  /** Static headers from the operator's config (e.g. the upstream's own credentials). */
  headers: Record<string, string>;
  /** Cap on one JSON body or one SSE event from the upstream. */
  maxMessageBytes: number;
  timeouts: PeerTimeouts;
  /** Where transport trouble is logged (never with header values). Silent when absent. */
  logger?: Logger;
}

/** The outcome of probing an HTTP upstream (mcp-protocol.md §2.2). */
export interface HttpEraVerdict {
  transport: 'streamable-http' | 'sse';
  era: 'legacy' | 'modern';
}
