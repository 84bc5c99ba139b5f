/**
 * GET and DELETE on an MCP endpoint: legacy sessions only (modern traffic is POST-only).
 * GET opens the session's standalone SSE stream, or resumes a cut stream from `Last-Event-ID`
 * (replaying only that stream's buffered events, never another's). DELETE ends the session.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../pipeline/errors.js';
import type { Principal } from '../pipeline/context.js';
import { GET_STREAM } from '../sessions/session.js';
import { SSE_HEADERS } from './call-reply.js';
import { closeIfBodyUnread, mcpMethods, sendError, sendMethodNotAllowed } from './respond.js';
import type { Endpoint, GatewayCore } from './core.js';

function sessionHeader(req: IncomingMessage): string | undefined {
  const v = req.headers['mcp-session-id'];
  return Array.isArray(v) ? v[0] : v;
}

export function handleGet(core: GatewayCore, endpoint: Endpoint, principal: Principal, req: IncomingMessage, res: ServerResponse): void {
  if (endpoint.eras === 'modern') return sendMethodNotAllowed(res, mcpMethods(endpoint));
  const accept = req.headers.accept;
  if (accept !== undefined && !accept.includes('text/event-stream') && !accept.includes('*/*')) return sendError(res, new GatewayError('ERR_NOT_ACCEPTABLE', 'Accept must list text/event-stream'));
  const id = sessionHeader(req);
  if (id === undefined) return sendError(res, new GatewayError('ERR_SESSION_REQUIRED'));
  // An HTTP+SSE (/sse) session is not served here: 404, as for any session this endpoint does not know.
  const session = core.sessions.get(id, endpoint.name, principal, 'streamable-http');
  if (!session) return sendError(res, new GatewayError('ERR_SESSION_NOT_FOUND'));
  const last = req.headers['last-event-id'];
  const lastId = Array.isArray(last) ? last[0] : last;
  if (lastId !== undefined) {
    const m = /^(\d{1,9})\.(\d{1,15})$/.exec(lastId);
    if (!m) return sendError(res, new GatewayError('ERR_INVALID_REQUEST', 'Unknown Last-Event-ID'));
    const streamId = Number(m[1]);
    const frames = session.replay(streamId, Number(m[2]));
    const stream = session.streams.get(streamId);
    res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session.id });
    res.flushHeaders();
    for (const f of frames) res.write(f);
    // The stream goes on live if its request is still running; otherwise the replay is all there is.
    if (stream && !stream.ended && (streamId !== GET_STREAM || !stream.res)) {
      // The resumed connection replaces any older one still attached to this stream.
      const previous = stream.res;
      if (previous && previous !== res && !previous.writableEnded) previous.end();
      stream.attach(res);
    } else res.end();
    return;
  }
  const stream = session.getStream();
  if (stream.res && !stream.res.destroyed) {
    return sendError(res, new GatewayError('ERR_INVALID_REQUEST', 'Only one GET stream per session'), null, 409);
  }
  res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session.id });
  res.flushHeaders();
  stream.attach(res);
}

export function handleDelete(core: GatewayCore, endpoint: Endpoint, principal: Principal, req: IncomingMessage, res: ServerResponse): void {
  if (endpoint.eras === 'modern') return sendMethodNotAllowed(res, mcpMethods(endpoint));
  const id = sessionHeader(req);
  if (id === undefined) return sendError(res, new GatewayError('ERR_SESSION_REQUIRED'));
  if (!core.sessions.get(id, endpoint.name, principal, 'streamable-http')) return sendError(res, new GatewayError('ERR_SESSION_NOT_FOUND'));
  core.sessions.remove(id, 'deleted by client');
  // DELETE never reads a body: one that was sent anyway must not hold the connection.
  closeIfBodyUnread(res);
  res.writeHead(200);
  res.end();
}
