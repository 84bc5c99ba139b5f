/** How the gateway introduces itself to clients. */
import type { CatalogView } from '../../catalog/view.js';

export const GATEWAY_INFO = { name: 'portcullis', title: 'Portcullis MCP gateway', version: '0.1.0' };

/** Capabilities advertised on an endpoint: only what its visible upstreams support (spec: use only as negotiated). */
export function serverCapabilities(view: CatalogView): Record<string, unknown> {
  return view.capabilities;
}
