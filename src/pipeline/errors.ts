/**
 * Errors are data: every failure the gateway produces is a GatewayError with a code from the one
 * table below, which maps it to a JSON-RPC error code and an HTTP status. Tests assert codes.
 *
 * Application codes lie outside the reserved range -32768..-32000 (spec 2026-07-28, basic): the
 * gateway's own errors use -31xxx so clients can tell them from upstream or protocol errors.
 */
import { RpcCode, type JsonRpcErrorObject } from '../mcp/jsonrpc.js';

export const ERRORS = {
  // protocol-level (standard codes)
  ERR_PARSE: { rpc: RpcCode.ParseError, http: 400, message: 'Parse error: body is not valid JSON' },
  ERR_INVALID_REQUEST: { rpc: RpcCode.InvalidRequest, http: 400, message: 'Invalid JSON-RPC request' },
  ERR_BATCH_FORBIDDEN: { rpc: RpcCode.InvalidRequest, http: 400, message: 'JSON-RPC batches are not supported' },
  ERR_METHOD_NOT_FOUND: { rpc: RpcCode.MethodNotFound, http: 404, message: 'Method not found' },
  ERR_INVALID_PARAMS: { rpc: RpcCode.InvalidParams, http: 400, message: 'Invalid params' },
  ERR_UNKNOWN_TOOL: { rpc: RpcCode.InvalidParams, http: 200, message: 'Unknown tool' },
  ERR_UNKNOWN_PROMPT: { rpc: RpcCode.InvalidParams, http: 200, message: 'Unknown prompt' },
  ERR_RESOURCE_NOT_FOUND: { rpc: RpcCode.ResourceNotFound, http: 200, message: 'Resource not found' },
  ERR_INVALID_CURSOR: { rpc: RpcCode.InvalidParams, http: 200, message: 'Invalid or stale cursor' },
  ERR_HEADER_MISMATCH: { rpc: RpcCode.HeaderMismatch, http: 400, message: 'Header does not match body' },
  ERR_UNSUPPORTED_VERSION: { rpc: RpcCode.UnsupportedProtocolVersion, http: 400, message: 'Unsupported protocol version' },
  ERR_MISSING_META: { rpc: RpcCode.InvalidParams, http: 400, message: 'Missing required _meta field' },
  ERR_MISSING_CAPABILITY: { rpc: RpcCode.MissingRequiredClientCapability, http: 400, message: 'Missing required client capability' },
  ERR_INTERNAL: { rpc: RpcCode.InternalError, http: 500, message: 'Internal gateway error' },
  // front door (HTTP layer)
  ERR_ORIGIN_FORBIDDEN: { rpc: -31001, http: 403, message: 'Origin not allowed' },
  ERR_HOST_FORBIDDEN: { rpc: -31002, http: 403, message: 'Host not allowed' },
  ERR_BODY_TOO_LARGE: { rpc: -31003, http: 413, message: 'Request body too large' },
  ERR_JSON_TOO_DEEP: { rpc: -31004, http: 400, message: 'JSON nesting too deep' },
  ERR_CONTENT_TYPE: { rpc: -31005, http: 415, message: 'Content-Type must be application/json' },
  ERR_NOT_ACCEPTABLE: { rpc: -31006, http: 406, message: 'Accept must list application/json and text/event-stream' },
  ERR_SESSION_REQUIRED: { rpc: -31007, http: 400, message: 'Mcp-Session-Id header required' },
  ERR_SESSION_NOT_FOUND: { rpc: -31008, http: 404, message: 'Session not found' },
  ERR_SESSION_LIMIT: { rpc: -31009, http: 503, message: 'Session limit reached' },
  ERR_BAD_PROTOCOL_VERSION_HEADER: { rpc: -31010, http: 400, message: 'Bad MCP-Protocol-Version header' },
  ERR_METHOD_NOT_ALLOWED: { rpc: -31011, http: 405, message: 'HTTP method not allowed' },
  ERR_UNKNOWN_VIRTUAL_SERVER: { rpc: -31012, http: 404, message: 'Unknown virtual server' },
  ERR_NOT_INITIALIZED: { rpc: -31013, http: 400, message: 'Session not initialized' },
  ERR_REQUEST_TIMEOUT: { rpc: -31014, http: 200, message: 'Request timed out' },
  ERR_CANCELLED: { rpc: -31015, http: 200, message: 'Request cancelled' },
  // upstreams
  ERR_UPSTREAM_UNAVAILABLE: { rpc: -31100, http: 200, message: 'Upstream unavailable' },
  ERR_UPSTREAM_TIMEOUT: { rpc: -31101, http: 200, message: 'Upstream timed out' },
  ERR_UPSTREAM_PROTOCOL: { rpc: -31102, http: 200, message: 'Upstream protocol error' },
  ERR_UPSTREAM_CLOSED: { rpc: -31103, http: 200, message: 'Upstream connection closed' },
  ERR_UNATTRIBUTABLE: { rpc: -31104, http: 200, message: 'Server-to-client request cannot be attributed to a client' },
  ERR_CLIENT_CAPABILITY: { rpc: -31105, http: 200, message: 'Client did not declare the capability this request needs' },
  ERR_CIRCUIT_OPEN: { rpc: -31106, http: 200, message: 'Upstream circuit open' },
  ERR_UPSTREAM_BUSY: { rpc: -31107, http: 200, message: 'Upstream has too many calls in flight' },
  // later stages (reserved now so their codes are stable)
  ERR_UNAUTHENTICATED: { rpc: -31200, http: 401, message: 'Authentication required' },
  ERR_INVALID_TOKEN: { rpc: -31206, http: 401, message: 'Invalid or expired credentials' },
  ERR_INSUFFICIENT_SCOPE: { rpc: -31207, http: 403, message: 'Insufficient scope' },
  ERR_TOKEN_IN_QUERY: { rpc: -31208, http: 400, message: 'Credentials in the query string are not accepted' },
  ERR_AUTH_UNAVAILABLE: { rpc: -31209, http: 503, message: 'Token verification temporarily unavailable' },
  ERR_UPSTREAM_AUTH_REQUIRED: { rpc: -31210, http: 200, message: 'Upstream authorization required' },
  ERR_UPSTREAM_CREDENTIALS: { rpc: -31211, http: 200, message: 'Upstream credentials unavailable' },
  ERR_CONFLICT: { rpc: -31212, http: 409, message: 'Already exists' },
  ERR_NOT_FOUND: { rpc: -31213, http: 404, message: 'Not found' },
  ERR_BAD_INPUT: { rpc: -31214, http: 400, message: 'Bad input' },
  ERR_POLICY_DENIED: { rpc: -31201, http: 200, message: 'Denied by policy' },
  ERR_APPROVAL_REQUIRED: { rpc: -31202, http: 200, message: 'Approval required' },
  ERR_RATE_LIMITED: { rpc: -31203, http: 429, message: 'Rate limit exceeded' },
  ERR_OVERLOADED: { rpc: -31204, http: 503, message: 'Gateway overloaded' },
  ERR_QUOTA_EXCEEDED: { rpc: -31205, http: 429, message: 'Quota exhausted' },
  // governance: argument contracts (schema violations use the standard invalid-params code)
  ERR_ARGUMENT_INVALID: { rpc: RpcCode.InvalidParams, http: 200, message: 'Arguments do not match the tool input schema' },
  ERR_ARGUMENT_GUARD: { rpc: -31215, http: 200, message: 'Argument refused by a guard' },
  // evidence: the decision record could not be made durable, so the call is not forwarded
  ERR_AUDIT_UNAVAILABLE: { rpc: -31216, http: 503, message: 'Audit log unavailable: side-effecting calls are refused' },
  // evidence: this gateway as another one's checkpoint witness (docs/audit.md, "A gateway as witness")
  ERR_WITNESS_UNTRUSTED: { rpc: -31217, http: 403, message: 'Checkpoint not signed by a key this witness trusts' },
  ERR_WITNESS_REFUSED: { rpc: -31218, http: 409, message: 'Checkpoint refused by the witness' },
} as const satisfies Record<string, { rpc: number; http: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;
  /** Extra JSON-RPC `data` fields that the protocol requires (e.g. `supported` for -32022). */
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, opts?: { detail?: Record<string, unknown>; data?: Record<string, unknown>; cause?: unknown }) {
    super(message ?? ERRORS[code].message, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'GatewayError';
    this.code = code;
    this.detail = opts?.detail;
    this.data = opts?.data;
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }

  toRpcError(): JsonRpcErrorObject {
    const e = { code: ERRORS[this.code].rpc, message: this.message, data: { portcullis: this.code, ...this.data } };
    MADE_HERE.add(e);
    return e;
  }
}

/** Error objects the gateway made (toRpcError), as opposed to those an upstream answered. */
const MADE_HERE = new WeakSet<object>();

/**
 * The gateway's own code of an error object, or undefined for an error an upstream answered:
 * an upstream can put `data.portcullis` in its errors too, and must not pose as the gateway
 * (a refusal counted in metrics and logs, an audit record, a breaker verdict).
 */
export function gatewayCodeOf(error: JsonRpcErrorObject): ErrorCode | undefined {
  if (!MADE_HERE.has(error)) return undefined;
  const code = (error.data as { portcullis?: unknown } | undefined)?.portcullis;
  return typeof code === 'string' && Object.hasOwn(ERRORS, code) ? (code as ErrorCode) : undefined;
}

/** Maps anything thrown inside the pipeline to a GatewayError without leaking internals. */
export function asGatewayError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  return new GatewayError('ERR_INTERNAL', undefined, { cause: e });
}
