/**
 * The front door: one HTTP listener. Fastify owns routing (so the route list can be derived
 * from the router), but MCP routes are hijacked and served on the raw request/response: the
 * body is read once, with limits, by our own code, and SSE is written directly.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatewayError } from '../pipeline/errors.js';
import { ANONYMOUS } from '../stages/authenticate/authenticate.js';
import { checkHostAndOrigin } from './guards.js';
import { handlePost } from './mcp-post.js';
import { handleDelete, handleGet } from './mcp-get-delete.js';
import { handleSseMessage, handleSseOpen } from './legacy-sse.js';
import { sendError, sendJson } from './respond.js';
import type { Endpoint, GatewayCore } from './core.js';
import { DEFAULT_VIEW } from '../catalog/view.js';

export interface FrontDoorOptions {
  maxHeaderBytes: number;
  readiness: () => { ready: boolean; body: Record<string, unknown> };
}

const DEFAULT_ENDPOINT: Endpoint = { name: DEFAULT_VIEW, eras: 'both' };

/** The Host/Origin guard; answers 403 itself and returns false when the request is refused. */
function guard(core: GatewayCore, req: IncomingMessage, res: ServerResponse): boolean {
  const verdict = checkHostAndOrigin(req, core.hostPolicy());
  if (verdict === 'ok') return true;
  sendError(res, new GatewayError(verdict));
  return false;
}

function unhandled(core: GatewayCore, res: ServerResponse, e: unknown): void {
  core.log.error({ err: e }, 'http.unhandled');
  if (!res.headersSent) sendError(res, new GatewayError('ERR_INTERNAL'));
  else res.end();
}

export function buildFrontDoor(core: GatewayCore, opts: FrontDoorOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    // Our own raw handlers read MCP bodies; fastify never buffers them.
    bodyLimit: 1024,
    // Our own node:http server: header size is capped here (431), before any of our code runs.
    // The hottest route, POST /mcp, skips fastify's routing and request objects; it passes the
    // same guard (and, later, the same authentication) as the routed path. Everything else,
    // including /mcp with a query string, is routed by fastify, which also lists every route.
    serverFactory: (handler) =>
      createServer({ maxHeaderSize: opts.maxHeaderBytes, requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => {
        if (req.method === 'POST' && req.url === '/mcp') {
          if (!guard(core, req, res)) return;
          handlePost(core, DEFAULT_ENDPOINT, ANONYMOUS, req, res).catch((e: unknown) => unhandled(core, res, e));
          return;
        }
        handler(req, res);
      }),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  // DNS-rebinding guard on every route, before anything else (security-checklist C1).
  app.addHook('onRequest', (req, reply, done) => {
    if (!guard(core, req.raw, reply.raw)) {
      reply.hijack();
      return;
    }
    done();
  });

  const endpointOf = (req: FastifyRequest): Endpoint | undefined => core.endpoint((req.params as { name?: string }).name);
  const raw = (fn: (ep: Endpoint, req: IncomingMessage, res: ServerResponse, fr: FastifyRequest) => unknown) => (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const ep = endpointOf(req);
    if (!ep) return sendError(reply.raw, new GatewayError('ERR_UNKNOWN_VIRTUAL_SERVER'));
    Promise.resolve(fn(ep, req.raw, reply.raw, req)).catch((e: unknown) => unhandled(core, reply.raw, e));
  };

  for (const prefix of ['', '/servers/:name']) {
    app.post(`${prefix}/mcp`, raw((ep, req, res) => handlePost(core, ep, ANONYMOUS, req, res)));
    app.get(`${prefix}/mcp`, raw((ep, req, res) => handleGet(core, ep, ANONYMOUS, req, res)));
    app.delete(`${prefix}/mcp`, raw((ep, req, res) => handleDelete(core, ep, ANONYMOUS, req, res)));
    app.get(`${prefix}/sse`, raw((ep, _req, res) => handleSseOpen(core, ep, ANONYMOUS, prefix === '' ? '/messages' : `/servers/${ep.name}/messages`, res)));
    app.post(`${prefix}/messages`, raw((ep, req, res, fr) => handleSseMessage(core, ep, ANONYMOUS, req, res, (fr.query as { sessionId?: string }).sessionId)));
    for (const m of ['PUT', 'PATCH'] as const) {
      app.route({ method: m, url: `${prefix}/mcp`, handler: raw((_ep, _req, res) => sendError(res, new GatewayError('ERR_METHOD_NOT_ALLOWED'))) });
    }
  }

  app.get('/healthz', (_req, reply) => {
    reply.hijack();
    sendJson(reply.raw, 200, { status: 'ok' });
  });
  app.get('/readyz', (_req, reply) => {
    reply.hijack();
    const r = opts.readiness();
    sendJson(reply.raw, r.ready ? 200 : 503, r.body);
  });
  app.setNotFoundHandler((_req, reply) => {
    reply.hijack();
    sendJson(reply.raw, 404, { error: 'not found' });
  });
  return app;
}
