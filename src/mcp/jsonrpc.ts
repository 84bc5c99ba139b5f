/**
 * JSON-RPC 2.0 message shapes as they travel through the gateway. The data plane works on
 * parsed plain objects (no SDK Protocol objects): see docs/architecture.md, "raw data plane".
 */

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: Record<string, unknown>;
}

export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** What a call produces: either a result object or an error object (no id: ids belong to the hop). */
export type CallOutcome = { result: Record<string, unknown> } | { error: JsonRpcErrorObject };

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const isValidId = (v: unknown): v is JsonRpcId =>
  typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m;
}
export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m);
}
export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !('method' in m) && ('result' in m || 'error' in m);
}

/**
 * Checks that a parsed JSON value is one JSON-RPC 2.0 message and returns it typed, or a reason.
 * Arrays (batches) are reported separately by the caller: Portcullis rejects them in every era.
 */
export function toMessage(v: unknown): JsonRpcMessage | string {
  if (!isObject(v)) return 'message must be a JSON object';
  if (v.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  if ('method' in v) {
    if (typeof v.method !== 'string' || v.method.length === 0) return 'method must be a non-empty string';
    if (v.params !== undefined && !isObject(v.params)) return 'params must be an object';
    if ('id' in v) {
      if (!isValidId(v.id)) return 'id must be a string or an integer';
      return v as unknown as JsonRpcRequest;
    }
    return v as unknown as JsonRpcNotification;
  }
  if (!('id' in v) || (v.id !== null && !isValidId(v.id))) return 'response id must be a string or an integer';
  const hasResult = 'result' in v;
  const hasError = 'error' in v;
  if (hasResult === hasError) return 'response must have exactly one of result and error';
  if (hasResult && !isObject(v.result)) return 'result must be an object';
  if (hasError) {
    const e = v.error;
    if (!isObject(e) || typeof e.code !== 'number' || typeof e.message !== 'string') return 'error must be {code, message}';
  }
  return v as unknown as JsonRpcResponse;
}

export const success = (id: JsonRpcId, result: Record<string, unknown>): JsonRpcSuccess => ({ jsonrpc: '2.0', id, result });
export const failure = (id: JsonRpcId | null, error: JsonRpcErrorObject): JsonRpcFailure => ({ jsonrpc: '2.0', id, error });

/** Standard JSON-RPC and MCP error codes (spec 2026-07-28, basic). */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** legacy era: resource not found */
  ResourceNotFound: -32002,
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;
