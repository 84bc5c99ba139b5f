/**
 * The one way the upstream OAuth client reaches the network (protected resource metadata, AS
 * metadata, registration, token and refresh requests): every URL in those documents is chosen by
 * the upstream or its authorization server, so each request is judged before it connects
 * (security checklist A6). http(s) only; https for public addresses; no credentials in URLs;
 * addresses are checked after DNS resolution by the connection's own lookup (so the checked
 * address is the one used); redirects are never followed here (the SDK follows same-origin ones
 * hop by hop, each through this guard); responses are capped in size and time.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { isSpecialUseAddress } from '../server/egress.js';

/** Largest response body read from an OAuth endpoint. */
export const OAUTH_MAX_RESPONSE_BYTES = 256 * 1024;
/** Deadline of one OAuth request, connection to last byte. */
export const OAUTH_TIMEOUT_MS = 10_000;

/** The log calls the upstream OAuth code makes (a pino logger fits). */
export interface OAuthLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Where an address may be reached. */
export type AddressClass = 'public' | 'private' | 'forbidden';

const forbidden = new BlockList();
for (const [a, p] of [['0.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) forbidden.addSubnet(a, p, 'ipv4');
for (const [a, p] of [['::', 128], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]] as const) forbidden.addSubnet(a, p, 'ipv6');
// Cloud metadata services inside otherwise private ranges (AWS IMDS over IPv6, Alibaba).
forbidden.addAddress('fd00:ec2::254', 'ipv6');
forbidden.addAddress('100.100.100.200', 'ipv4');

const privateNets = new BlockList();
for (const [a, p] of [['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]] as const) privateNets.addSubnet(a, p, 'ipv4');
privateNets.addAddress('::1', 'ipv6');
privateNets.addSubnet('fc00::', 7, 'ipv6');

/**
 * Classifies an IP address: `private` (loopback, RFC 1918, CGNAT, ULA: reachable only with
 * allowPrivateNetwork), `forbidden` (link-local, metadata, multicast, unspecified, other
 * special-use ranges, anything that is not an IP address) or `public`.
 */
export function classifyAddress(ip: string): AddressClass {
  let a = ip.replace(/^\[|\]$/g, '');
  // Dotted IPv4-mapped IPv6 is judged as the IPv4 address; the hex form is refused outright.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  if (mapped?.[1]) a = mapped[1];
  const fam = isIP(a);
  if (fam === 0) return 'forbidden';
  // Kept out of the BlockLists: a ::ffff:0:0/96 rule there would match every IPv4 address.
  if (fam === 6 && /^(?:0{0,4}:){0,5}:?ffff:/i.test(a)) return 'forbidden';
  const type = fam === 4 ? 'ipv4' : 'ipv6';
  if (forbidden.check(a, type)) return 'forbidden';
  if (privateNets.check(a, type)) return 'private';
  return isSpecialUseAddress(a) ? 'forbidden' : 'public';
}

/** A refused destination. A TypeError, like every other fetch failure, so discovery fails closed instead of falling back. */
export class EgressDeniedError extends TypeError {
  readonly code = 'ERR_EGRESS_DENIED';
  constructor(message: string) {
    super(message);
    this.name = 'EgressDeniedError';
  }
}

/** Fetch signature the SDK's `fetchFn` accepts. */
export type OAuthFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface OAuthEgressOptions {
  /** Upstream name, for the security log. */
  upstream: string;
  /** Admit private and loopback addresses (and plain http to them). */
  allowPrivateNetwork: boolean;
  logger?: OAuthLogger;
  timeoutMs?: number;
  maxBytes?: number;
}

/** A guarded fetch plus the close of its connection pools. */
export interface OAuthEgress {
  fetch: OAuthFetch;
  close(): Promise<void>;
}

/** Which address classes a connection may use. */
type Admit = (c: AddressClass) => boolean;

function guardedLookup(admit: Admit, deny: (host: string, reason: string) => void): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as LookupAddress[];
      // Every resolved address must be admissible: the connection may use any of them.
      const bad = list.find((x) => !admit(classifyAddress(x.address)));
      if (list.length === 0 || bad) {
        deny(hostname, bad ? `resolves to a ${classifyAddress(bad.address)} address` : 'does not resolve');
        return callback(new EgressDeniedError(`refused: ${hostname} resolves to a non-admissible address`) as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return callback(null, list);
      const first = list[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };
}

/** Builds the guarded fetch for one upstream's OAuth client. */
export function createOAuthEgress(o: OAuthEgressOptions): OAuthEgress {
  const timeoutMs = o.timeoutMs ?? OAUTH_TIMEOUT_MS;
  const maxBytes = o.maxBytes ?? OAUTH_MAX_RESPONSE_BYTES;
  const deny = (host: string, reason: string): void => {
    o.logger?.warn({ event: 'upstream_oauth.egress_denied', upstream: o.upstream, host: host.slice(0, 255), reason }, 'upstream OAuth request refused');
  };
  // https reaches public addresses (private ones only when allowed); plain http only ever
  // reaches private addresses, and only when allowed.
  const httpsAdmit: Admit = (c) => c === 'public' || (c === 'private' && o.allowPrivateNetwork);
  const httpAdmit: Admit = (c) => c === 'private' && o.allowPrivateNetwork;
  const agentFor = (admit: Admit): Agent =>
    new Agent({
      connect: { lookup: guardedLookup(admit, deny), timeout: timeoutMs },
      connections: 4,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      maxResponseSize: maxBytes,
    });
  const httpsAgent = agentFor(httpsAdmit);
  const httpAgent = agentFor(httpAdmit);

  const refuse = (host: string, reason: string): never => {
    deny(host, reason);
    throw new EgressDeniedError(`refused: ${reason}`);
  };

  const guarded: OAuthFetch = async (input, init) => {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return refuse('', 'not a valid URL');
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse(host, `scheme ${url.protocol.slice(0, 20)} is not http(s)`);
    if (url.username !== '' || url.password !== '') return refuse(host, 'credentials in the URL');
    const admit = url.protocol === 'https:' ? httpsAdmit : httpAdmit;
    if (url.protocol === 'http:' && !o.allowPrivateNetwork) return refuse(host, 'plain http (allowed only with allowPrivateNetwork, to private addresses)');
    // Node's connect skips the lookup hook for IP literals, so those are judged here.
    if (isIP(host) !== 0 && !admit(classifyAddress(host))) return refuse(host, `${classifyAddress(host)} address`);
    const { dispatcher: _ignored, signal, redirect: _redirect, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
    const deadline = AbortSignal.timeout(timeoutMs);
    const res = await undiciFetch(url, {
      ...(rest as Parameters<typeof undiciFetch>[1]),
      dispatcher: url.protocol === 'https:' ? httpsAgent : httpAgent,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
    });
    // Re-wrapped as the runtime's own Response: the SDK tells an error response from a string with
    // `instanceof Response`, which the undici package's class does not satisfy.
    const nullBody = res.status === 204 || res.status === 205 || res.status === 304;
    return new Response(nullBody ? null : (res.body as ReadableStream<Uint8Array> | null), { status: res.status, statusText: res.statusText, headers: res.headers as unknown as Headers });
  };
  return {
    fetch: guarded,
    close: async () => {
      await Promise.all([httpsAgent.close(), httpAgent.close()]);
    },
  };
}

/**
 * Why an authorization URL may not be handed to a user agent, or undefined when it may: https
 * (plain http only with allowPrivateNetwork), no credentials, no control characters or spaces,
 * bounded length. Checked before any URL leaves the gateway (CVE-2025-6514).
 */
export function authorizationUrlProblem(url: URL, allowPrivateNetwork: boolean): string | undefined {
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivateNetwork)) return `scheme ${url.protocol.slice(0, 20)} is not allowed`;
  if (url.username !== '' || url.password !== '') return 'credentials in the URL';
  if (url.href.length > 8192) return 'longer than 8192 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(url.href)) return 'control characters or spaces';
  return undefined;
}
