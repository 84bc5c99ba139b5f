/**
 * Canonical resource URIs (RFC 8707) and their Protected Resource Metadata locations (RFC 9728).
 * One base URL for the whole gateway; each endpoint is its own resource, so a token minted for
 * `/servers/github/mcp` is not accepted on `/mcp`.
 */
import { DEFAULT_VIEW } from '../../catalog/view.js';

/** Path of an endpoint: `/mcp` for the default view, `/servers/<name>/mcp` otherwise. */
export function endpointPath(endpoint: string): string {
  return endpoint === DEFAULT_VIEW ? '/mcp' : `/servers/${endpoint}/mcp`;
}

/** The canonical resource URI of an endpoint under `base` (no trailing slash on base). */
export function resourceUri(base: string, endpoint: string): string {
  return `${base}${endpointPath(endpoint)}`;
}

/** Where the endpoint's PRM document lives: the well-known segment inserted before the path. */
export function metadataUrl(base: string, endpoint: string): string {
  const u = new URL(base);
  return `${u.origin}/.well-known/oauth-protected-resource${u.pathname.replace(/\/$/, '')}${endpointPath(endpoint)}`;
}

/** `http://host:port` without a trailing slash; the configured base wins over the bound address. */
export function canonicalBase(configured: string | undefined, bound: string): string {
  return (configured ?? bound).replace(/\/+$/, '');
}
