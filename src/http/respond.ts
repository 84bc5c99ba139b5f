/** Small writers for the raw MCP routes: JSON-RPC errors with the right HTTP status. */
import type { ServerResponse } from 'node:http';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { GatewayError } from '../pipeline/errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A JSON-RPC error response; the HTTP status comes from the error table unless given. */
export function sendError(res: ServerResponse, e: GatewayError, id: JsonRpcId | null = null, status?: number, headers: Record<string, string> = {}): void {
  const extra: Record<string, string> = { ...headers };
  if (e.code === 'ERR_METHOD_NOT_ALLOWED') extra.allow = 'GET, POST, DELETE';
  sendJson(res, status ?? e.httpStatus, { jsonrpc: '2.0', id, error: e.toRpcError() }, extra);
}

export function sendAccepted(res: ServerResponse, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(202, headers);
  res.end();
}
