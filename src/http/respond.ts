/** Small writers for the raw MCP routes: JSON-RPC errors with the right HTTP status. */
import type { ServerResponse } from 'node:http';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { GatewayError } from '../pipeline/errors.js';
import { abandonConnection, declaresBody } from './body.js';
import type { Endpoint } from './core.js';

/**
 * Call before writing an answer's headers. An answer sent while the request's body is still
 * unread (refused before reading it, or cut off at the size limit) ends the connection: it says
 * `Connection: close`, and the socket is destroyed after a short grace if the client keeps it
 * (body.ts, abandonConnection). Otherwise Node would drain the rest of the body for as long as
 * the client drips it. A request whose body was read (or that has none) is not touched.
 */
export function closeIfBodyUnread(res: ServerResponse): void {
  const req = res.req as ServerResponse['req'] | undefined;
  if (req === undefined || req.complete || res.headersSent || !declaresBody(req)) return;
  res.setHeader('connection', 'close');
  abandonConnection(req.socket);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  closeIfBodyUnread(res);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A JSON-RPC error response; the HTTP status comes from the error table unless given. */
export function sendError(res: ServerResponse, e: GatewayError, id: JsonRpcId | null = null, status?: number, headers: Record<string, string> = {}): void {
  sendJson(res, status ?? e.httpStatus, { jsonrpc: '2.0', id, error: e.toRpcError() }, headers);
}

/** The methods an MCP endpoint path (`/mcp`, `/servers/<name>/mcp`) serves: a modern-only endpoint is POST only. */
export const mcpMethods = (endpoint: Endpoint): string => (endpoint.eras === 'modern' ? 'POST' : 'GET, POST, DELETE');

/** The methods an `/sse` path serves: GET, or none on a modern-only endpoint (HTTP+SSE is 2024-11-05). */
export const sseMethods = (endpoint: Endpoint): string => (endpoint.eras === 'modern' ? '' : 'GET');

/** 405 with the resource's own methods in `Allow` (RFC 9110 §15.5.6: a 405 MUST carry it). */
export function sendMethodNotAllowed(res: ServerResponse, allow: string, message?: string): void {
  sendError(res, new GatewayError('ERR_METHOD_NOT_ALLOWED', message), null, undefined, { allow });
}

export function sendAccepted(res: ServerResponse, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  closeIfBodyUnread(res);
  res.writeHead(202, headers);
  res.end();
}
