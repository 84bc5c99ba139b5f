/**
 * The front door: one HTTP listener. Fastify owns routing (so the route list can be derived
 * from the router), but MCP routes are hijacked and served on the raw request/response: the
 * body is read once, with limits, by our own code, and SSE is written directly.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatewayError } from '../pipeline/errors.js';
import type { Principal } from '../pipeline/context.js';
import type { Authenticator } from '../auth/resource/authenticator.js';
import { isAuthError, sendAuthError } from '../auth/resource/challenge.js';
import { registerAdminKeys, type AdminKeys } from './admin/keys.js';
import { registerAdminPolicies } from './admin/policies.js';
import { registerAdminAudit } from './admin/audit.js';
import { registerWitnessRoute } from './witness-route.js';
import type { WitnessService } from '../audit/witness-service.js';
import { checkHostAndOrigin } from './guards.js';
import { handlePost } from './mcp-post.js';
import { handleDelete, handleGet } from './mcp-get-delete.js';
import { handleSseMessage, handleSseOpen } from './legacy-sse.js';
import { closeIfBodyUnread, mcpMethods, sendError, sendJson, sendMethodNotAllowed, sseMethods } from './respond.js';
import type { Endpoint, GatewayCore } from './core.js';
import { DEFAULT_VIEW } from '../catalog/view.js';

export interface FrontDoorOptions {
  maxHeaderBytes: number;
  /** Longest a client may take to send a request's headers (408 afterwards). */
  headersTimeoutMs: number;
  readiness: () => { ready: boolean; body: Record<string, unknown> };
  auth: Authenticator;
  /** Where an endpoint's Protected Resource Metadata lives (named in every challenge). */
  metadataUrl(endpoint: string): string;
  /** The endpoint's PRM document, or undefined when the gateway does not require tokens (404). */
  prm(endpoint: string): Record<string, unknown> | undefined;
  /** Handlers that serve the paths they own themselves, without a bearer token: the built-in
   * authorization server and the upstream OAuth browser routes, once started. */
  mounts(): readonly MountedHandler[];
  /** API keys for the admin API. */
  adminKeys: AdminKeys;
  /** Prometheus exposition for GET /metrics on this listener (docs/observability.md); absent: no such route. */
  metrics?: () => Promise<{ body: string; contentType: string }>;
  /** Counts front-door authentications (metrics). */
  authEvents?: { succeeded(method: string): void; failed(reason: string): void };
  /** POST /audit/witness for other gateways' checkpoints (audit.witnessService); absent: no such route. */
  witness?: WitnessService;
}

/** A handler mounted beside the router (its own public endpoints, e.g. an OAuth server). */
export interface MountedHandler {
  owns(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Route patterns it serves, for the route inventory. */
  readonly publicPaths: readonly string[];
}

/** One route of the front door; `public` ones answer without credentials. */
export interface RouteInfo {
  method: string;
  url: string;
  public: boolean;
}

const inventories = new WeakMap<FastifyInstance, RouteInfo[]>();

/** Every route the front door serves, derived from the router (security-checklist A1). */
export function routeInventory(app: FastifyInstance): readonly RouteInfo[] {
  return inventories.get(app) ?? [];
}

const DEFAULT_ENDPOINT: Endpoint = { name: DEFAULT_VIEW, eras: 'both' };
/** How often Node checks each connection's headers deadline (limits.headersTimeout). */
const HEADERS_CHECK_MS = 1000;

/** The Host/Origin guard; answers 403 itself and returns false when the request is refused. */
function guard(core: GatewayCore, req: IncomingMessage, res: ServerResponse): boolean {
  const verdict = checkHostAndOrigin(req, core.hostPolicy());
  if (verdict === 'ok') return true;
  sendError(res, new GatewayError(verdict));
  return false;
}

/** The path of a request target, without its query string. */
function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function unhandled(core: GatewayCore, res: ServerResponse, e: unknown): void {
  core.log.error({ err: e }, 'http.unhandled');
  if (!res.headersSent) sendError(res, new GatewayError('ERR_INTERNAL'));
  else res.end();
}

export function buildFrontDoor(core: GatewayCore, opts: FrontDoorOptions): FastifyInstance {
  const principals = new WeakMap<IncomingMessage, Principal>();
  const admitted = (p: Principal, endpoint: string = DEFAULT_VIEW): void => {
    opts.authEvents?.succeeded(p.authMethod);
    core.runtime.audit?.authnSuccess(p, endpoint); // authn.success, once per principal per minute
  };
  const refuse = (res: ServerResponse, e: unknown, endpoint: string): void => {
    if (isAuthError(e)) {
      opts.authEvents?.failed(typeof e.detail?.reason === 'string' && /^[a-z0-9_.-]{1,40}$/i.test(e.detail.reason) ? e.detail.reason : e.code);
      // A security event: which endpoint and why, never the credential itself.
      core.log.info({ endpoint, code: e.code, reason: e.detail?.reason }, 'auth.refused');
      core.runtime.audit?.authnFailure(endpoint, e.code, e.detail?.reason, res.req?.socket.remoteAddress);
      sendAuthError(res, e, opts.metadataUrl(endpoint), opts.auth.scopesFor(endpoint));
    } else unhandled(core, res, e);
  };
  /** Runs `next` with the caller's principal, or answers the refusal; synchronous when open. */
  const withPrincipal = (req: IncomingMessage, res: ServerResponse, endpoint: string, next: (p: Principal) => void): void => {
    let p: Principal | Promise<Principal>;
    try {
      p = opts.auth.principalFor(req, endpoint);
    } catch (e) {
      refuse(res, e, endpoint);
      return;
    }
    if (p instanceof Promise) {
      p.then(
        (q) => {
          admitted(q, endpoint);
          next(q);
        },
        (e: unknown) => refuse(res, e, endpoint),
      );
    } else {
      admitted(p, endpoint);
      next(p);
    }
  };

  const app = Fastify({
    logger: false,
    // Our own raw handlers read MCP bodies; fastify never buffers them.
    bodyLimit: 1024,
    // Our own node:http server: header size is capped here (431), before any of our code runs.
    // The hottest route, POST /mcp, skips fastify's routing and request objects; it passes the
    // same guard and the same authentication as the routed path. Everything else,
    // including /mcp with a query string, is routed by fastify, which also lists every route.
    serverFactory: (handler) =>
      // Node checks the headers deadline every connectionsCheckingInterval (30 s by default), so
      // a client dripping header bytes held its connection for up to twice the limit.
      createServer({ maxHeaderSize: opts.maxHeaderBytes, requestTimeout: 0, headersTimeout: opts.headersTimeoutMs, connectionsCheckingInterval: HEADERS_CHECK_MS, keepAliveTimeout: 65_000 }, (req, res) => {
        if (req.method === 'POST' && req.url === '/mcp') {
          if (!guard(core, req, res)) return;
          withPrincipal(req, res, DEFAULT_VIEW, (p) => {
            handlePost(core, DEFAULT_ENDPOINT, p, req, res).catch((e: unknown) => unhandled(core, res, e));
          });
          return;
        }
        handler(req, res);
      }),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const inventory: RouteInfo[] = [];
  inventories.set(app, inventory);
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const isPublic = (r.config as { public?: boolean } | undefined)?.public === true;
    for (const m of methods) if (m !== 'HEAD') inventory.push({ method: m, url: r.url, public: isPublic });
  });

  // DNS-rebinding guard on every route, before anything else (security-checklist C1); then
  // credentials on every route that is not explicitly public (A1), before any body is read (A4).
  app.addHook('onRequest', (req, reply, done) => {
    if (!guard(core, req.raw, reply.raw)) {
      reply.hijack();
      return;
    }
    const path = pathOf(req.raw.url);
    const mount = opts.mounts().find((m) => m.owns(path));
    if (mount) {
      reply.hijack();
      mount.handle(req.raw, reply.raw).catch((e: unknown) => unhandled(core, reply.raw, e));
      return;
    }
    if ((req.routeOptions.config as { public?: boolean } | undefined)?.public === true) return done();
    const name = (req.params as { name?: string } | undefined)?.name;
    const endpoint = name !== undefined && core.endpoint(name) ? name : DEFAULT_VIEW;
    const admit = (p: Principal): void => {
      admitted(p, endpoint);
      principals.set(req.raw, p);
      done();
    };
    const deny = (e: unknown): void => {
      reply.hijack(); // the refusal is ours; the hook chain is never resumed
      refuse(reply.raw, e, endpoint);
    };
    let p: Principal | Promise<Principal>;
    try {
      p = opts.auth.principalFor(req.raw, endpoint);
    } catch (e) {
      return deny(e);
    }
    if (p instanceof Promise) p.then(admit, deny);
    else admit(p);
  });
  const principalOf = (req: IncomingMessage): Principal => {
    const p = principals.get(req);
    // The hook always sets it before a non-public handler runs; anything else is a wiring bug.
    if (!p) throw new GatewayError('ERR_UNAUTHENTICATED');
    return p;
  };

  const endpointOf = (req: FastifyRequest): Endpoint | undefined => core.endpoint((req.params as { name?: string }).name);
  const raw = (fn: (ep: Endpoint, req: IncomingMessage, res: ServerResponse, fr: FastifyRequest) => unknown) => (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const ep = endpointOf(req);
    // Another tenant's virtual server does not exist for this caller (404, like an unknown one).
    if (!ep || (ep.tenant !== undefined && ep.tenant !== principals.get(req.raw)?.tenant)) return sendError(reply.raw, new GatewayError('ERR_UNKNOWN_VIRTUAL_SERVER'));
    Promise.resolve(fn(ep, req.raw, reply.raw, req)).catch((e: unknown) => unhandled(core, reply.raw, e));
  };

  // The GET handlers open streams (and GET /sse creates a session): fastify's implicit HEAD
  // route per GET route would run them for HEAD, so these paths have none and answer HEAD with
  // 405 themselves, touching no session.
  const noHead = { exposeHeadRoute: false };
  for (const prefix of ['', '/servers/:name']) {
    app.post(`${prefix}/mcp`, raw((ep, req, res) => handlePost(core, ep, principalOf(req), req, res)));
    app.get(`${prefix}/mcp`, noHead, raw((ep, req, res) => handleGet(core, ep, principalOf(req), req, res)));
    app.delete(`${prefix}/mcp`, raw((ep, req, res) => handleDelete(core, ep, principalOf(req), req, res)));
    app.get(`${prefix}/sse`, noHead, raw((ep, req, res) => handleSseOpen(core, ep, principalOf(req), prefix === '' ? '/messages' : `/servers/${ep.name}/messages`, res)));
    app.post(`${prefix}/messages`, raw((ep, req, res, fr) => handleSseMessage(core, ep, principalOf(req), req, res, (fr.query as { sessionId?: string }).sessionId)));
    for (const m of ['HEAD', 'PUT', 'PATCH'] as const) {
      app.route({ method: m, url: `${prefix}/mcp`, handler: raw((ep, _req, res) => sendMethodNotAllowed(res, mcpMethods(ep))) });
    }
    app.route({ method: 'HEAD', url: `${prefix}/sse`, handler: raw((ep, _req, res) => sendMethodNotAllowed(res, sseMethods(ep))) });
  }

  registerAdminKeys(app, opts.adminKeys, principalOf, (res, e) => (e instanceof GatewayError && !isAuthError(e) ? sendError(res, e) : refuse(res, e, DEFAULT_VIEW)), () => core.runtime.audit);
  registerAdminAudit(app, opts.adminKeys, principalOf, (res, e) => (e instanceof GatewayError && !isAuthError(e) ? sendError(res, e) : refuse(res, e, DEFAULT_VIEW)), () => core.runtime.audit);
  registerAdminPolicies(
    app,
    { service: () => core.runtime.policy, policyEnabled: () => core.snapshot().policy.enabled, guard: opts.adminKeys, audit: () => core.runtime.audit },
    principalOf,
    (res, e) => (e instanceof GatewayError && !isAuthError(e) ? sendError(res, e) : refuse(res, e, DEFAULT_VIEW)),
  );

  if (opts.witness) registerWitnessRoute(app, opts.witness, core.log, (res, e) => unhandled(core, res, e));

  // Metrics name every tenant: with authentication required, only an admin may read them.
  const expose = opts.metrics;
  if (expose) {
    app.get('/metrics', (req, reply) => {
      reply.hijack();
      const p = principalOf(req.raw);
      if (core.snapshot().auth.mode === 'required' && !opts.adminKeys.isAdmin(p)) return sendError(reply.raw, new GatewayError('ERR_INSUFFICIENT_SCOPE', 'An admin role is required'));
      expose().then(
        (m) => {
          closeIfBodyUnread(reply.raw);
          reply.raw.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' });
          reply.raw.end(m.body);
        },
        (e: unknown) => unhandled(core, reply.raw, e),
      );
    });
  }

  // The explicit public list (A1): health, and the metadata a client needs to find out how to
  // authenticate. Everything else needs credentials when `auth` is configured.
  const open = { config: { public: true } };
  app.get('/healthz', open, (_req, reply) => {
    reply.hijack();
    sendJson(reply.raw, 200, { status: 'ok' });
  });
  app.get('/readyz', open, (_req, reply) => {
    reply.hijack();
    const r = opts.readiness();
    sendJson(reply.raw, r.ready ? 200 : 503, r.body);
  });
  const prm = (endpoint: string) => (_req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const doc = core.endpoint(endpoint === DEFAULT_VIEW ? undefined : endpoint) ? opts.prm(endpoint) : undefined;
    if (!doc) return sendJson(reply.raw, 404, { error: 'not found' });
    sendJson(reply.raw, 200, doc, { 'cache-control': 'max-age=300', 'access-control-allow-origin': '*' });
  };
  app.get('/.well-known/oauth-protected-resource', open, prm(DEFAULT_VIEW));
  app.get('/.well-known/oauth-protected-resource/mcp', open, prm(DEFAULT_VIEW));
  app.get('/.well-known/oauth-protected-resource/servers/:name/mcp', open, (req, reply) => prm((req.params as { name: string }).name)(req, reply));
  app.setNotFoundHandler((_req, reply) => {
    reply.hijack();
    sendJson(reply.raw, 404, { error: 'not found' });
  });
  return app;
}
