/**
 * DNS-rebinding defence (spec transports: servers MUST validate Origin; CVE-2025-66414):
 * a request whose Origin is not allowed, or whose Host is not one of the names this listener
 * answers to, gets 403 before anything else happens. Checked on every route.
 */
import type { IncomingMessage } from 'node:http';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export interface HostPolicy {
  /** Host names (without port) this listener accepts; empty set and non-loopback bind: any. */
  readonly hosts: ReadonlySet<string>;
  readonly anyHost: boolean;
  /** Exact origins accepted besides loopback ones. */
  readonly origins: ReadonlySet<string>;
}

export const isLoopbackHost = (h: string): boolean => LOOPBACK_HOSTS.has(h.toLowerCase()) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);

export function hostPolicy(bindHost: string, allowedHosts: Iterable<string>, allowedOrigins: Iterable<string>, publicUrl?: string): HostPolicy {
  const hosts = new Set<string>([...LOOPBACK_HOSTS]);
  const extra = [...allowedHosts].map((h) => h.toLowerCase());
  for (const h of extra) hosts.add(h);
  const origins = new Set(allowedOrigins);
  if (publicUrl) {
    const u = new URL(publicUrl);
    hosts.add(u.hostname.toLowerCase());
    origins.add(u.origin);
  }
  const wildcardBind = bindHost === '0.0.0.0' || bindHost === '::';
  if (!wildcardBind) hosts.add(bindHost.toLowerCase());
  // A non-loopback listener without an explicit host list cannot know its own names.
  const anyHost = !isLoopbackHost(bindHost) && extra.length === 0 && !publicUrl;
  return { hosts, anyHost, origins };
}

/** Host name of a Host header value, without the port; undefined if malformed. */
function hostname(h: string): string | undefined {
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1).toLowerCase() : undefined;
  }
  const colon = h.indexOf(':');
  const name = (colon < 0 ? h : h.slice(0, colon)).toLowerCase();
  return /^[a-z0-9.-]{1,253}$/.test(name) ? name : undefined;
}

export type GuardVerdict = 'ok' | 'ERR_HOST_FORBIDDEN' | 'ERR_ORIGIN_FORBIDDEN';

export function checkHostAndOrigin(req: IncomingMessage, p: HostPolicy): GuardVerdict {
  const host = req.headers.host;
  if (!p.anyHost) {
    const name = typeof host === 'string' ? hostname(host) : undefined;
    if (!name || !p.hosts.has(name)) return 'ERR_HOST_FORBIDDEN';
  }
  const origin = req.headers.origin;
  if (origin === undefined) return 'ok'; // non-browser clients send none
  if (p.origins.has(origin)) return 'ok';
  try {
    const u = new URL(origin);
    if ((u.protocol === 'http:' || u.protocol === 'https:') && isLoopbackHost(u.hostname.replace(/^\[|\]$/g, '') === '::1' ? '[::1]' : u.hostname)) return 'ok';
  } catch {
    /* "null" or garbage: refused below */
  }
  return 'ERR_ORIGIN_FORBIDDEN';
}
