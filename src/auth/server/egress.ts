/**
 * The only way the authorization server fetches anything (Client ID Metadata Documents): https
 * only, and the address is checked BEFORE connecting — an IP literal directly, a host name through
 * a resolver hook that refuses the connection when any resolved address is special-use (RFC 1918,
 * loopback, link-local, CGNAT, ULA, multicast, documentation, metadata ranges). oidc-provider adds
 * its own 2.5 s deadline, `redirect: 'manual'` and body size caps on top.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';

const SPECIAL_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const SPECIAL_V6: Array<[string, number]> = [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23],
  ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];

const special = new BlockList();
for (const [a, p] of SPECIAL_V4) special.addSubnet(a, p, 'ipv4');
for (const [a, p] of SPECIAL_V6) special.addSubnet(a, p, 'ipv6');
// Kept apart: a BlockList matches IPv4 addresses against an IPv6 ::ffff:0:0/96 rule, which would
// make every IPv4 address special. Only IPv6 inputs (hex-form mapped addresses) are checked here.
const mapped = new BlockList();
mapped.addSubnet('::ffff:0:0', 96, 'ipv6');
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Dotted IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 address it maps to. */
function unmap(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m?.[1] ?? ip;
}

/** True for addresses that are not globally routable (or are not IP addresses at all). */
export function isSpecialUseAddress(ip: string): boolean {
  const a = unmap(ip.replace(/^\[|\]$/g, ''));
  const fam = isIP(a);
  if (fam === 0) return true;
  if (fam === 6 && mapped.check(a, 'ipv6')) return true;
  return special.check(a, fam === 4 ? 'ipv4' : 'ipv6');
}

/** True when the gateway may connect to `ip`: a public address, or loopback when allowed. */
export function addressAllowed(ip: string, allowLoopback: boolean): boolean {
  const a = unmap(ip.replace(/^\[|\]$/g, ''));
  const fam = isIP(a);
  if (fam === 0) return false;
  if (allowLoopback && loopback.check(a, fam === 4 ? 'ipv4' : 'ipv6')) return true;
  return !isSpecialUseAddress(a);
}

/** Raised (as a fetch failure) when the destination is refused; oidc-provider turns it into invalid_client. */
export class EgressDeniedError extends Error {
  readonly code = 'ERR_EGRESS_DENIED';
  constructor(message: string) {
    super(message);
    this.name = 'EgressDeniedError';
  }
}

/** A DNS lookup for undici's connector that refuses a name resolving to any non-public address. */
export function guardedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as LookupAddress[];
      if (list.length === 0 || list.some((a) => !addressAllowed(a.address, allowLoopback))) {
        return callback(new EgressDeniedError(`refused: ${hostname} resolves to a non-public address`) as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return callback(null, list);
      const first = list[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };
}

/** A fetch for oidc-provider's `fetch` option, plus the close of its connection pool. */
export interface GuardedFetch {
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  close(): Promise<void>;
}

/** Builds the guarded fetch. `allowLoopback` admits 127.0.0.0/8 and ::1 (never private ranges). */
export function createGuardedFetch(opts: { allowLoopback: boolean }): GuardedFetch {
  const agent = new Agent({
    connect: { lookup: guardedLookup(opts.allowLoopback), timeout: 2500 },
    connections: 4,
    headersTimeout: 2500,
    bodyTimeout: 2500,
    maxResponseSize: 64 * 1024,
  });
  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.protocol !== 'https:') throw new EgressDeniedError('refused: only https URLs are fetched');
    if (url.username !== '' || url.password !== '') throw new EgressDeniedError('refused: credentials in URL');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Node's connect skips the lookup hook for IP literals, so those are judged here.
    if (isIP(unmap(host)) !== 0 && !addressAllowed(host, opts.allowLoopback)) throw new EgressDeniedError('refused: non-public address');
    const { dispatcher: _ignored, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
    const res = await undiciFetch(url, { ...(rest as Parameters<typeof undiciFetch>[1]), dispatcher: agent, redirect: 'manual' });
    return res as unknown as Response;
  };
  return { fetch: guarded, close: () => agent.close() };
}
