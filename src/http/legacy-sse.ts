/**
 * The deprecated HTTP+SSE transport (2024-11-05) for old clients: `GET /sse` opens the session's
 * one stream and names the message endpoint in its first `endpoint` event; every message the
 * gateway sends, responses included, returns on that stream. Same session binding, Host/Origin
 * guard and limits as `/mcp`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatSseEvent } from '../mcp/sse.js';
import { negotiateLegacy } from '../mcp/eras.js';
import { failure, isObject, isRequest, success, toMessage, type CallOutcome, type JsonRpcNotification, type JsonRpcRequest } from '../mcp/jsonrpc.js';
import { parseJsonBody } from '../mcp/json-body.js';
import { GatewayError } from '../pipeline/errors.js';
import { handleCall } from '../pipeline/pipeline.js';
import { CallCancel, createCallContext, type Principal } from '../pipeline/context.js';
import { GATEWAY_INFO, serverCapabilities } from '../pipeline/local/server-info.js';
import type { CallSink } from '../upstreams/types.js';
import { LegacySession, type SessionStream } from '../sessions/session.js';
import { relayable, SSE_HEADERS } from './call-reply.js';
import { readBody } from './body.js';
import { sendAccepted, sendError, sendMethodNotAllowed, sseMethods } from './respond.js';
import { MODERN_ONLY_METHODS } from './mcp-post.js';
import type { Endpoint, GatewayCore } from './core.js';
import { validTraceparent } from '../observability/traceparent.js';

export function handleSseOpen(core: GatewayCore, endpoint: Endpoint, principal: Principal, messagesPath: string, res: ServerResponse): void {
  if (endpoint.eras === 'modern') return sendMethodNotAllowed(res, sseMethods(endpoint));
  const session = new LegacySession(endpoint.name, principal, '2024-11-05', {}, 0, 'sse');
  if (!core.sessions.add(session)) return sendError(res, new GatewayError('ERR_SESSION_LIMIT'));
  const stream = session.getStream();
  res.writeHead(200, SSE_HEADERS);
  stream.attach(res);
  res.write(formatSseEvent({ event: 'endpoint', data: `${messagesPath}?sessionId=${encodeURIComponent(session.id)}` }));
  // The stream is the session: when the client goes, so does the session and everything it started.
  res.once('close', () => core.sessions.remove(session.id, 'sse stream closed'));
}

/** The sink of a call on an HTTP+SSE session: everything goes on the session's one stream. */
class SseSessionSink implements CallSink {
  constructor(
    private readonly session: LegacySession,
    private readonly stream: SessionStream,
  ) {}
  notify(msg: JsonRpcNotification): void {
    this.stream.send(msg);
  }
  request(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallOutcome> {
    return this.session.requestClient(this.stream, method, params, signal);
  }
}

export async function handleSseMessage(core: GatewayCore, endpoint: Endpoint, principal: Principal, req: IncomingMessage, res: ServerResponse, sessionId: string | undefined): Promise<void> {
  if (!sessionId) return sendError(res, new GatewayError('ERR_SESSION_REQUIRED', 'sessionId query parameter required'));
  // Only HTTP+SSE sessions: a Streamable HTTP session (initialize on /mcp) is unknown here (404).
  const session = core.sessions.get(sessionId, endpoint.name, principal, 'sse');
  if (!session) return sendError(res, new GatewayError('ERR_SESSION_NOT_FOUND'));
  let value: unknown;
  try {
    const ct = req.headers['content-type'];
    if (!ct || !/^application\/json\s*(;|$)/i.test(ct)) throw new GatewayError('ERR_CONTENT_TYPE');
    const limits = core.snapshot().gateway.limits;
    const parsed = parseJsonBody(await readBody(req, limits.maxBodyBytes), limits.maxJsonDepth);
    if (!parsed.ok) throw new GatewayError(parsed.code, parsed.message);
    value = parsed.value;
  } catch (e) {
    return sendError(res, e instanceof GatewayError ? e : new GatewayError('ERR_INTERNAL'));
  }
  if (Array.isArray(value)) return sendError(res, new GatewayError('ERR_BATCH_FORBIDDEN'));
  const msg = toMessage(value);
  if (typeof msg === 'string') return sendError(res, new GatewayError('ERR_INVALID_REQUEST', `Invalid JSON-RPC message: ${msg}`));
  sendAccepted(res);
  const stream = session.getStream();
  if (!isRequest(msg)) {
    session.receive(msg);
    return;
  }
  if (msg.method === 'initialize') {
    const params = msg.params ?? {};
    session.protocolVersion = negotiateLegacy(params.protocolVersion) === params.protocolVersion ? String(params.protocolVersion) : '2024-11-05';
    session.clientCapabilities = isObject(params.capabilities) ? params.capabilities : {};
    const view = core.view(endpoint.name, principal.tenant);
    const result: Record<string, unknown> = { protocolVersion: session.protocolVersion, capabilities: serverCapabilities(view), serverInfo: GATEWAY_INFO };
    if (view.description) result.instructions = view.description;
    stream.send(success(msg.id, result));
    return;
  }
  if (session.inFlight.has(msg.id)) {
    stream.send(failure(msg.id, new GatewayError('ERR_INVALID_REQUEST', 'A request with this id is already in flight').toRpcError()));
    return;
  }
  if (MODERN_ONLY_METHODS.has(msg.method)) {
    stream.send(failure(msg.id, new GatewayError('ERR_METHOD_NOT_FOUND', `Method not found in ${session.protocolVersion}: ${msg.method}`).toRpcError()));
    return;
  }
  const cancel = new CallCancel();
  session.inFlight.set(msg.id, cancel);
  const id = msg.id;
  let replied = false;
  const respond = (o: CallOutcome): void => {
    if (replied) return;
    replied = true;
    stream.sendText(relayable('error' in o ? failure(id, o.error) : success(id, o.result)));
  };
  const ctx = createCallContext({
    id: core.nextCallId(),
    startedAt: process.hrtime.bigint(),
    snapshot: core.snapshot(),
    view: core.view(endpoint.name, principal.tenant),
    request: msg as JsonRpcRequest,
    client: { era: 'legacy', protocolVersion: session.protocolVersion, capabilities: session.clientCapabilities, logLevel: session.logLevel ?? 'debug' },
    sessionId: session.id,
    sink: new SseSessionSink(session, stream),
    respond,
    cancel,
    log: core.log,
    // As on /mcp: the POST carrying this message may name its trace (W3C traceparent header).
    traceparent: validTraceparent(req.headers.traceparent),
    runtime: core.runtime,
    setLogLevel: (l: string) => (session.logLevel = l),
    subscriptions: session.subscriptions,
    // The caller of this request (the same subject as the session's creator, with this token's scopes).
    principal,
  });
  // As on /mcp: handleCall answers through ctx.respond; a rejection still answers (an internal
  // error) and settles the call, so it can neither go unanswered nor be an unhandled rejection.
  void core.track(
    handleCall(ctx).then(
      (o) => {
        session.settle(id);
        respond(o);
      },
      (e: unknown) => {
        session.settle(id);
        respond({ error: new GatewayError('ERR_INTERNAL', undefined, { cause: e }).toRpcError() });
      },
    ),
  );
}
