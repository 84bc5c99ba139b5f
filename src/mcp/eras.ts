/**
 * Protocol revisions and eras (spec 2026-07-28, basic/versioning). Legacy revisions negotiate with
 * `initialize` and keep a session; the modern revision carries version and capabilities in every
 * request's `_meta`.
 */

export const MODERN_VERSION = '2026-07-28';
/** Legacy Streamable HTTP revisions, newest first. 2024-11-05 is served only on `/sse`. */
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
export const LATEST_LEGACY_VERSION = LEGACY_VERSIONS[0];
export const ALL_VERSIONS: readonly string[] = [MODERN_VERSION, ...LEGACY_VERSIONS];

export type Era = 'legacy' | 'modern';

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

export const isLegacyVersion = (v: unknown): boolean =>
  typeof v === 'string' && (LEGACY_VERSIONS as readonly string[]).includes(v);

export const isModernVersion = (v: unknown): boolean => v === MODERN_VERSION;

/**
 * Legacy negotiation (spec 2025-11-25, basic/lifecycle): echo the client's version when we
 * support it, else offer our latest.
 */
export function negotiateLegacy(requested: unknown): string {
  return typeof requested === 'string' && isLegacyVersion(requested) && requested !== '2024-11-05' ? requested : LATEST_LEGACY_VERSION;
}

/** Methods that exist only in the legacy era; a modern request for them gets 404 / -32601. */
export const LEGACY_ONLY_METHODS = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);
