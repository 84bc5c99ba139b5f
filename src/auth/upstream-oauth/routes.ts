/**
 * The two browser routes of per-principal upstream authorization, for the front door to mount:
 *
 *   GET /oauth/upstream/<name>/authorize?ticket=…  redeem the ticket (single use), start the flow,
 *                                                  302 to the upstream's authorization server
 *   GET /oauth/upstream/callback?code&state&iss    finish the flow, show a small result page
 *
 * Both are public (a browser carries no bearer token): the ticket authenticates the first, the
 * state (bound to the principal, the issuer and a cookie set by the first) the second. Pages load
 * nothing, are unframeable and never cached; callback URLs carry a code, so no Referer leaves.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../../pipeline/errors.js';
import { esc } from '../server/pages.js';
import type { UpstreamOAuth } from './client.js';
import type { OAuthLogger } from './egress.js';
import { defaultFlows, type FlowRegistry } from './flows.js';
import { defaultTickets, type TicketBook } from './tickets.js';

export const CALLBACK_PATH = '/oauth/upstream/callback';
const AUTHORIZE = /^\/oauth\/upstream\/([a-zA-Z0-9][a-zA-Z0-9_-]{0,63})\/authorize$/;
const COOKIE = 'pcl_upstream_oauth';
const MAX_URL = 8192;

const HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export interface UpstreamOAuthRoutesOptions {
  /** The OAuth client of an upstream with `auth: {type: oauth}`, or undefined. */
  clientFor(upstream: string): UpstreamOAuth | undefined;
  /** Must be the registry the clients were built with (default: the process-wide one). */
  flows?: FlowRegistry;
  tickets?: TicketBook;
  /** Mark the browser-binding cookie Secure (the gateway is served over https). */
  secureCookies?: boolean;
  logger?: OAuthLogger;
}

/** The mountable handler. */
export interface UpstreamOAuthRoutes {
  owns(path: string): boolean;
  /** Serves one request for a path `owns()` claimed. Never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Route patterns served without a bearer token, for the route inventory. */
  publicPaths: string[];
}

/** Sends a minimal result page (escaped text, no scripts, unframeable, never cached). */
export function sendResultPage(res: ServerResponse, status: number, title: string, text: string, extra: Record<string, string | string[]> = {}): void {
  const html =
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
    `<style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}</style></head>` +
    `<body><h1>${esc(title)}</h1><p>${esc(text)}</p></body></html>`;
  res.writeHead(status, { ...HEADERS, ...extra, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

function cookieValue(req: IncomingMessage): string | undefined {
  const raw = req.headers.cookie;
  if (typeof raw !== 'string' || raw.length > 8192) return undefined;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A message safe to show: the gateway's own text for its input errors, a generic one otherwise. */
function shown(e: unknown): string {
  if (e instanceof GatewayError && (e.code === 'ERR_BAD_INPUT' || e.code === 'ERR_UPSTREAM_CREDENTIALS')) return e.message;
  return 'The authorization could not be completed.';
}

/** Builds the routes. */
export function createUpstreamOAuthRoutes(o: UpstreamOAuthRoutesOptions): UpstreamOAuthRoutes {
  const flows = o.flows ?? defaultFlows;
  const tickets = o.tickets ?? defaultTickets;
  const cookieAttrs = `Path=/oauth/upstream/; HttpOnly; SameSite=Lax; Max-Age=600${o.secureCookies ? '; Secure' : ''}`;
  const clearCookie = `${COOKIE}=; Path=/oauth/upstream/; HttpOnly; SameSite=Lax; Max-Age=0${o.secureCookies ? '; Secure' : ''}`;

  const authorize = async (name: string, q: URLSearchParams, res: ServerResponse): Promise<void> => {
    const client = o.clientFor(name);
    if (!client) return sendResultPage(res, 404, 'Unknown upstream', 'This upstream does not use OAuth authorization.');
    let principalKey: string;
    try {
      ({ principalKey } = tickets.redeem(q.get('ticket') ?? '', name));
    } catch (e) {
      o.logger?.warn({ event: 'upstream_oauth.ticket_refused', upstream: name, reason: e instanceof Error ? e.message : '' }, 'upstream OAuth ticket refused');
      return sendResultPage(res, 400, 'Authorization link not valid', 'This authorization link is invalid, expired or already used. Retry the request in your MCP client to get a new one.');
    }
    const binding = randomBytes(32).toString('base64url');
    try {
      const url = await client.begin(principalKey, { binding });
      res.writeHead(302, { ...HEADERS, location: url, 'set-cookie': `${COOKIE}=${binding}; ${cookieAttrs}`, 'content-length': '0' });
      res.end();
    } catch (e) {
      sendResultPage(res, 502, 'Authorization could not start', shown(e));
    }
  };

  const callback = async (req: IncomingMessage, q: URLSearchParams, res: ServerResponse): Promise<void> => {
    const upstream = flows.upstreamOf(q.get('state') ?? '');
    const client = upstream ? o.clientFor(upstream) : undefined;
    if (!upstream || !client) {
      o.logger?.warn({ event: 'upstream_oauth.callback_unknown_state' }, 'upstream OAuth callback with an unknown state');
      return sendResultPage(res, 400, 'Authorization failed', 'Unknown, expired or already used authorization request.', { 'set-cookie': clearCookie });
    }
    const binding = cookieValue(req);
    try {
      await client.complete(q, binding ? { binding } : {});
      sendResultPage(res, 200, `Authorized ${upstream}`, `Authorized ${upstream}; you can close this window.`, { 'set-cookie': clearCookie });
    } catch (e) {
      sendResultPage(res, 400, 'Authorization failed', shown(e), { 'set-cookie': clearCookie });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const raw = req.url ?? '/';
      if (raw.length > MAX_URL) return sendResultPage(res, 414, 'Request too long', 'The request URL is too long.');
      const u = new URL(raw, 'http://gateway.invalid');
      // GET only: a HEAD (link previews) must not spend a ticket or a state.
      if (req.method !== 'GET') {
        res.writeHead(405, { ...HEADERS, allow: 'GET', 'content-length': '0' });
        return void res.end();
      }
      if (u.pathname === CALLBACK_PATH) return await callback(req, u.searchParams, res);
      const m = AUTHORIZE.exec(u.pathname);
      if (m?.[1]) return await authorize(m[1], u.searchParams, res);
      sendResultPage(res, 404, 'Not found', 'Not found.');
    } catch (e) {
      o.logger?.error({ event: 'upstream_oauth.route_failed', err: e instanceof Error ? e.name : typeof e }, 'upstream OAuth route failed');
      if (!res.headersSent) sendResultPage(res, 500, 'Error', 'The authorization could not be completed.');
      else res.end();
    }
  };

  return {
    owns: (path) => path === CALLBACK_PATH || AUTHORIZE.test(path),
    handle,
    publicPaths: [CALLBACK_PATH, '/oauth/upstream/:name/authorize'],
  };
}
