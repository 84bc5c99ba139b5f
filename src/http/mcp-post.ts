/**
 * POST on an MCP endpoint: one JSON-RPC message per request, in either era (mcp-protocol.md
 * §2.1). The body is read with limits and parsed once; the message is classified as a new
 * legacy session (`initialize`), a message of an existing session (`Mcp-Session-Id`), or a
 * modern stateless request (`_meta` protocol version); then requests go through handleCall().
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseJsonBody } from '../mcp/json-body.js';
import { checkMirroredHeaders, headerParamMap } from '../mcp/mirrored-headers.js';
import { LEGACY_ONLY_METHODS, META, MODERN_VERSION, ALL_VERSIONS, isLegacyVersion, negotiateLegacy } from '../mcp/eras.js';
import {
  failure,
  isObject,
  isRequest,
  isResponse,
  isValidId,
  RpcCode,
  success,
  toMessage,
  type CallOutcome,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.js';
import { GatewayError } from '../pipeline/errors.js';
import { handleCall } from '../pipeline/pipeline.js';
import { CallCancel, createCallContext, type CallContext, type ClientFacts, type Principal } from '../pipeline/context.js';
import { GATEWAY_INFO, serverCapabilities } from '../pipeline/local/server-info.js';
import { LegacySession } from '../sessions/session.js';
import { CallReply } from './call-reply.js';
import { limitStatus } from '../ratelimit/http.js';
import { readBody } from './body.js';
import { sendAccepted, sendError, sendJson } from './respond.js';
import type { Endpoint, GatewayCore } from './core.js';
import { validTraceparent } from '../observability/traceparent.js';

/** Methods answered by an upstream: their legacy replies stream at once, so they can be resumed. */
const FORWARDED = new Set(['tools/call', 'prompts/get', 'resources/read', 'completion/complete']);

/** The revision of the deprecated HTTP+SSE transport: served on `/sse` only. */
const HTTP_SSE_VERSION = '2024-11-05';

const SUPPORTED_FOR_ERRORS = ALL_VERSIONS.filter((v) => v !== HTTP_SSE_VERSION);

/**
 * Methods of the modern era only: a legacy session negotiated a revision without them, so they
 * are unknown there (-32601). A `subscriptions/listen` in a session would never end: a legacy
 * call outlives its connection, and listen ends only on cancellation.
 */
export const MODERN_ONLY_METHODS: ReadonlySet<string> = new Set(['server/discover', 'subscriptions/listen']);

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function checkContentType(req: IncomingMessage): void {
  const ct = header(req, 'content-type');
  if (!ct || !/^application\/json\s*(;|$)/i.test(ct)) throw new GatewayError('ERR_CONTENT_TYPE');
}

function checkAccept(req: IncomingMessage): void {
  const accept = header(req, 'accept');
  if (accept === undefined || accept.includes('*/*')) return;
  if (!(accept.includes('application/json') && accept.includes('text/event-stream'))) throw new GatewayError('ERR_NOT_ACCEPTABLE');
}

/** Reads, parses and checks the body; every failure is a precise HTTP + JSON-RPC error. */
async function readMessage(core: GatewayCore, req: IncomingMessage): Promise<JsonRpcMessage> {
  checkContentType(req);
  checkAccept(req);
  const limits = core.snapshot().gateway.limits;
  const buf = await readBody(req, limits.maxBodyBytes);
  const parsed = parseJsonBody(buf, limits.maxJsonDepth);
  if (!parsed.ok) throw new GatewayError(parsed.code, parsed.message);
  if (Array.isArray(parsed.value)) throw new GatewayError('ERR_BATCH_FORBIDDEN');
  const msg = toMessage(parsed.value);
  if (typeof msg === 'string') {
    // Echo only an id that is one (string or integer); anything else could not be detected: null (JSON-RPC 2.0 §5).
    const id = isObject(parsed.value) && isValidId(parsed.value.id) ? parsed.value.id : null;
    throw Object.assign(new GatewayError('ERR_INVALID_REQUEST', `Invalid JSON-RPC message: ${msg}`), { rpcId: id });
  }
  return msg;
}

export async function handlePost(core: GatewayCore, endpoint: Endpoint, principal: Principal, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Load shedding: one boolean the overload monitor's timer keeps up to date (src/runtime/overload.ts).
  if (core.runtime.overload?.shedding === true) return sendError(res, new GatewayError('ERR_OVERLOADED'), null, undefined, { 'retry-after': '1' });
  let msg: JsonRpcMessage;
  try {
    msg = await readMessage(core, req);
  } catch (e) {
    const ge = e instanceof GatewayError ? e : new GatewayError('ERR_INTERNAL', undefined, { cause: e });
    sendError(res, ge, (e as { rpcId?: string | number | null }).rpcId ?? null);
    return;
  }
  const sessionId = header(req, 'mcp-session-id');
  const meta = 'params' in msg && isObject(msg.params) && isObject(msg.params._meta) ? msg.params._meta : undefined;
  const headerVersion = header(req, 'mcp-protocol-version');
  const modern = (meta !== undefined && META.protocolVersion in meta) || headerVersion === MODERN_VERSION;
  if (isRequest(msg) && msg.method === 'initialize' && !modern) return initializeSession(core, endpoint, principal, msg, res);
  // A modern-only endpoint has no sessions: it ignores Mcp-Session-Id (mcp-protocol.md §5.3) and
  // treats every message as modern (a request without `_meta` gets -32602).
  if (endpoint.eras === 'modern') return modernMessage(core, endpoint, principal, msg, meta, req, res);
  if (sessionId !== undefined) {
    // Only Streamable HTTP sessions live here: an HTTP+SSE (/sse) session id is unknown (404).
    const session = core.sessions.get(sessionId, endpoint.name, principal, 'streamable-http');
    if (!session) return sendError(res, new GatewayError('ERR_SESSION_NOT_FOUND'), isRequest(msg) ? msg.id : null);
    // 2024-11-05 is the HTTP+SSE transport's revision, never negotiated on /mcp (spec 2025-11-25:
    // an invalid or unsupported version header → 400).
    if (headerVersion !== undefined && (headerVersion === HTTP_SSE_VERSION || !isLegacyVersion(headerVersion))) {
      return sendError(res, new GatewayError('ERR_BAD_PROTOCOL_VERSION_HEADER', `Unsupported MCP-Protocol-Version: ${headerVersion.slice(0, 32)}`), isRequest(msg) ? msg.id : null);
    }
    return legacyMessage(core, endpoint, session, principal, msg, req, res);
  }
  if (modern) return modernMessage(core, endpoint, principal, msg, meta, req, res);
  return sendError(res, new GatewayError('ERR_SESSION_REQUIRED'), isRequest(msg) ? msg.id : null);
}

/** initialize: a new legacy session, answered by the gateway itself (spec 2025-11-25, lifecycle). */
function initializeSession(core: GatewayCore, endpoint: Endpoint, principal: Principal, msg: JsonRpcRequest, res: ServerResponse): void {
  const params = msg.params ?? {};
  if (endpoint.eras === 'modern') {
    // A modern-only endpoint lists its versions in its error to initialize (mcp-protocol.md §5.3).
    return sendError(res, new GatewayError('ERR_UNSUPPORTED_VERSION', undefined, { data: { supported: [MODERN_VERSION], requested: params.protocolVersion } }), msg.id);
  }
  const snap = core.snapshot();
  const version = negotiateLegacy(params.protocolVersion);
  const caps = isObject(params.capabilities) ? params.capabilities : {};
  const session = new LegacySession(endpoint.name, principal, version, caps, snap.gateway.sessions.resumeBufferEvents, 'streamable-http');
  if (!core.sessions.add(session)) return sendError(res, new GatewayError('ERR_SESSION_LIMIT'), msg.id);
  const view = core.view(endpoint.name, principal.tenant);
  const result: Record<string, unknown> = { protocolVersion: version, capabilities: serverCapabilities(view), serverInfo: GATEWAY_INFO };
  if (view.description) result.instructions = view.description;
  core.log.debug({ session: session.id.slice(0, 6), endpoint: endpoint.name, version }, 'session.created');
  sendJson(res, 200, success(msg.id, result), { 'mcp-session-id': session.id });
}

function legacyMessage(core: GatewayCore, endpoint: Endpoint, session: LegacySession, principal: Principal, msg: JsonRpcMessage, req: IncomingMessage, res: ServerResponse): void {
  if (!isRequest(msg)) {
    const headers = { 'mcp-session-id': session.id };
    session.receive(msg);
    return sendAccepted(res, headers);
  }
  if (session.inFlight.has(msg.id)) {
    return sendError(res, new GatewayError('ERR_INVALID_REQUEST', 'A request with this id is already in flight in this session'), msg.id, 200, { 'mcp-session-id': session.id });
  }
  if (MODERN_ONLY_METHODS.has(msg.method)) {
    return sendError(res, new GatewayError('ERR_METHOD_NOT_FOUND', `Method not found in ${session.protocolVersion}: ${msg.method}`), msg.id, 200, { 'mcp-session-id': session.id });
  }
  const cancel = new CallCancel();
  session.inFlight.set(msg.id, cancel);
  const client: ClientFacts = {
    era: 'legacy',
    protocolVersion: session.protocolVersion,
    capabilities: session.clientCapabilities,
    // Legacy servers may log at will until setLevel: modern upstreams need an explicit level for that.
    logLevel: session.logLevel ?? 'debug',
  };
  const reply = new CallReply(res, {
    session,
    logLevel: undefined,
    clientCapabilities: session.clientCapabilities,
    onClientGone: () => undefined,
    streamNow: FORWARDED.has(msg.method),
  });
  // A refused call answered as plain JSON gets 429/503 + Retry-After; a streamed reply stays 200.
  const respond = (o: CallOutcome): void => reply.finish(toResponse(msg, o), limitStatus(o));
  // The caller of this request: the session's subject, with the scopes of the token it sent now.
  const ctx = makeContext(core, endpoint, msg, client, principal, reply, cancel, session, req, respond);
  // handleCall answers through ctx.respond itself; a rejection (a bug after the reply, or before
  // it) still ends the request. One reaction per outcome, no `finally` (a promise and two
  // closures more on every call).
  const settled = (): void => session.settle(msg.id);
  void core.track(
    handleCall(ctx).then(settled, (e: unknown) => {
      reply.finish(toResponse(msg, { error: new GatewayError('ERR_INTERNAL', undefined, { cause: e }).toRpcError() }));
      settled();
    }),
  );
}

/** Modern (2026-07-28) stateless request: validated against its `_meta` and mirrored headers first. */
function modernMessage(
  core: GatewayCore,
  endpoint: Endpoint,
  principal: Principal,
  msg: JsonRpcMessage,
  meta: Record<string, unknown> | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const id = isRequest(msg) ? msg.id : null;
  if (isResponse(msg)) return sendError(res, new GatewayError('ERR_INVALID_REQUEST', 'Clients must not send responses in the 2026-07-28 era'), null);
  if (!isRequest(msg)) return sendAccepted(res); // notifications: cancellation is closing the stream
  // Order matters (spec 2026-07-28, transports): a missing field, then header/body agreement, then the version.
  const requested = meta?.[META.protocolVersion];
  if (requested === undefined) return sendError(res, new GatewayError('ERR_MISSING_META', `params._meta["${META.protocolVersion}"] is required`), id);
  const tool = msg.method === 'tools/call' && typeof msg.params?.name === 'string' ? core.view(endpoint.name, principal.tenant).tool(msg.params.name) : undefined;
  const mirrored = checkMirroredHeaders(req.headers as Record<string, string | string[] | undefined>, msg, tool ? paramMapOf(tool.def) : undefined);
  if (!mirrored.ok) return sendError(res, new GatewayError('ERR_HEADER_MISMATCH', mirrored.message), id);
  if (endpoint.eras === 'legacy' || requested !== MODERN_VERSION) {
    const supported = endpoint.eras === 'legacy' ? SUPPORTED_FOR_ERRORS.filter((v) => v !== MODERN_VERSION) : SUPPORTED_FOR_ERRORS;
    return sendError(res, new GatewayError('ERR_UNSUPPORTED_VERSION', undefined, { data: { supported, requested } }), id);
  }
  if (LEGACY_ONLY_METHODS.has(msg.method)) {
    return sendError(res, new GatewayError('ERR_METHOD_NOT_FOUND', `Method not found in ${MODERN_VERSION}: ${msg.method}`), id, 404);
  }
  const caps = meta?.[META.clientCapabilities];
  if (!isObject(caps)) return sendError(res, new GatewayError('ERR_MISSING_META', `params._meta["${META.clientCapabilities}"] is required`), id);
  const level = meta?.[META.logLevel];
  const client: ClientFacts = { era: 'modern', protocolVersion: MODERN_VERSION, capabilities: caps, ...(typeof level === 'string' ? { logLevel: level } : {}) };
  const cancel = new CallCancel();
  const reply = new CallReply(res, {
    session: undefined,
    logLevel: typeof level === 'string' ? level : undefined,
    clientCapabilities: caps,
    onClientGone: () => cancel.abort(),
  });
  const respond = (o: CallOutcome): void => reply.finish(toResponse(msg, o), modernStatus(o));
  const ctx = makeContext(core, endpoint, msg, client, principal, reply, cancel, undefined, req, respond);
  void core.track(
    handleCall(ctx).then(
      respond,
      (e: unknown) => reply.finish(toResponse(msg, { error: new GatewayError('ERR_INTERNAL', undefined, { cause: e }).toRpcError() })),
    ),
  );
}

/** Modern protocol errors carry their HTTP status (spec 2026-07-28, transports §errors). */
function modernStatus(o: CallOutcome): number {
  if (!('error' in o)) return 200;
  const c = o.error.code;
  if (c === RpcCode.MethodNotFound) return 404;
  if (c === RpcCode.HeaderMismatch || c === RpcCode.MissingRequiredClientCapability || c === RpcCode.UnsupportedProtocolVersion) return 400;
  return limitStatus(o) ?? 200; // 429/503 with Retry-After (docs/rate-limits.md)
}

/** x-mcp-header maps are derived once per tool definition object and cached beside it. */
const paramMaps = new WeakMap<object, ReadonlyMap<string, readonly string[]> | undefined>();
function paramMapOf(def: Record<string, unknown>): ReadonlyMap<string, readonly string[]> | undefined {
  if (paramMaps.has(def)) return paramMaps.get(def);
  const m = headerParamMap(def.inputSchema);
  const map = m instanceof Map ? m : undefined;
  paramMaps.set(def, map);
  return map;
}

function makeContext(
  core: GatewayCore,
  endpoint: Endpoint,
  request: JsonRpcRequest,
  client: ClientFacts,
  principal: Principal,
  reply: CallReply,
  cancel: CallCancel,
  session: LegacySession | undefined,
  req: IncomingMessage,
  respond: (o: CallOutcome) => void,
): CallContext {
  const traceparent = header(req, 'traceparent');
  return createCallContext({
    id: core.nextCallId(),
    startedAt: process.hrtime.bigint(),
    snapshot: core.snapshot(),
    view: core.view(endpoint.name, principal.tenant),
    request,
    client,
    sessionId: session?.id,
    sink: reply,
    respond,
    cancel,
    log: core.log,
    traceparent: validTraceparent(traceparent),
    runtime: core.runtime,
    setLogLevel: session ? (l) => (session.logLevel = l) : undefined,
    subscriptions: session?.subscriptions,
    principal,
  });
}

function toResponse(req: JsonRpcRequest, o: CallOutcome): JsonRpcResponse {
  return 'error' in o ? failure(req.id, o.error) : success(req.id, o.result);
}
