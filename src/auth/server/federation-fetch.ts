/**
 * The fetch openid-client uses to talk to federation providers (discovery, JWKS, token,
 * userinfo): https only (http only to a loopback host when the entry allows loopback), no
 * credentials in URLs, no redirects, and every address checked BEFORE connecting — special-use
 * addresses (private, link-local, metadata, …) are refused, loopback only when allowed.
 * Responses are capped in size and time.
 */
import { isIP } from 'node:net';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciInit } from 'undici';
import type { CustomFetch } from 'openid-client';
import { addressAllowed, EgressDeniedError, guardedLookup } from './egress.js';
import { isLoopbackHostname } from './federation-config.js';

/** Largest response body accepted from a provider (discovery, JWKS, token, userinfo). */
export const MAX_FEDERATION_RESPONSE_BYTES = 256 * 1024;
/** Connect, headers and body deadlines, in ms. */
const CONNECT_MS = 5_000;
const RESPONSE_MS = 10_000;

/** A guarded fetch for openid-client plus the close of its connection pool. */
export interface FederationFetch {
  fetch: CustomFetch;
  close(): Promise<void>;
}

/** Builds the guarded fetch; `allowLoopback` admits loopback hosts (over http too), never private ranges. */
export function createFederationFetch(opts: { allowLoopback: boolean }): FederationFetch {
  const agent = new Agent({
    connect: { lookup: guardedLookup(opts.allowLoopback), timeout: CONNECT_MS },
    connections: 8,
    headersTimeout: RESPONSE_MS,
    bodyTimeout: RESPONSE_MS,
    maxResponseSize: MAX_FEDERATION_RESPONSE_BYTES,
  });
  const guarded: CustomFetch = async (input, init) => {
    const url = new URL(input);
    const loopbackHost = isLoopbackHostname(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && opts.allowLoopback && loopbackHost)) {
      throw new EgressDeniedError('refused: only https URLs are fetched');
    }
    if (url.username !== '' || url.password !== '') throw new EgressDeniedError('refused: credentials in URL');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Node's connect skips the lookup hook for IP literals, so those are judged here.
    if (isIP(host) !== 0 && !addressAllowed(host, opts.allowLoopback)) throw new EgressDeniedError('refused: non-public address');
    const res = await undiciFetch(url, {
      method: init.method,
      headers: init.headers,
      body: init.body as UndiciInit['body'],
      redirect: 'manual',
      ...(init.signal ? { signal: init.signal } : {}),
      dispatcher: agent,
    });
    return res as unknown as Response;
  };
  return { fetch: guarded, close: () => agent.close() };
}
