/**
 * Authorization tickets: how a principal whose upstream needs its own authorization gets to the
 * gateway's `/oauth/upstream/<name>/authorize` route from a browser (which carries no bearer
 * token). The gateway puts a ticket URL in the ERR_UPSTREAM_AUTH_REQUIRED error it returns to
 * that principal. A ticket is sealed with HMAC-SHA256 under a per-process key, names one upstream
 * and one principal, expires after ten minutes and is good for one use.
 *
 * Never for the gateway's own identity ('@gateway'): that is authorized by an operator with
 * `portcullis upstreams authorize`, so a user cannot bind their account to the shared identity.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TtlMap } from '../server/ttl-map.js';
import { GatewayError } from '../../pipeline/errors.js';
import { checkPrincipalKey, checkUpstreamName } from './store.js';

/** Principal key of the gateway's own identity toward upstreams. */
export const GATEWAY_PRINCIPAL = '@gateway';
/** Lifetime of a ticket. */
export const TICKET_TTL_MS = 10 * 60_000;
const MAX_TICKET_CHARS = 4096;
const DOMAIN = 'pcl-upstream-oauth-ticket.v1.';

interface Payload {
  v: 1;
  /** upstream */
  u: string;
  /** principal key */
  p: string;
  /** expiry, ms since the epoch */
  e: number;
  /** nonce: two tickets for the same principal are different tickets */
  n: string;
}

const bad = (why: string): GatewayError => new GatewayError('ERR_BAD_INPUT', `invalid authorization ticket: ${why}`);

/** Mints and redeems tickets under one key. */
export class TicketBook {
  private readonly key: Buffer;
  private readonly now: () => number;
  private readonly used: TtlMap<true>;

  constructor(o: { key?: Buffer; now?: () => number } = {}) {
    this.key = o.key ?? randomBytes(32);
    this.now = o.now ?? Date.now;
    // Remembered past expiry, so a used ticket stays used for as long as it could be valid.
    this.used = new TtlMap<true>(100_000, TICKET_TTL_MS + 60_000, this.now);
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.key).update(DOMAIN + payload, 'utf8').digest();
  }

  /** A ticket for `principalKey` at `upstream`. Refuses the gateway's own identity. */
  mint(upstream: string, principalKey: string): string {
    checkUpstreamName(upstream);
    checkPrincipalKey(principalKey);
    if (principalKey === GATEWAY_PRINCIPAL) throw new GatewayError('ERR_BAD_INPUT', 'the gateway identity is authorized with `portcullis upstreams authorize`, not with a ticket');
    const p: Payload = { v: 1, u: upstream, p: principalKey, e: this.now() + TICKET_TTL_MS, n: randomBytes(12).toString('base64url') };
    const body = Buffer.from(JSON.stringify(p), 'utf8').toString('base64url');
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  /**
   * Checks a ticket for `upstream` and consumes it. Throws ERR_BAD_INPUT when it is malformed,
   * forged or altered, for another upstream, expired or already used.
   */
  redeem(ticket: string, upstream: string): { principalKey: string } {
    if (typeof ticket !== 'string' || ticket.length === 0 || ticket.length > MAX_TICKET_CHARS) throw bad('malformed');
    const parts = ticket.split('.');
    if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0] ?? '') || !/^[A-Za-z0-9_-]{43}$/.test(parts[1] ?? '')) throw bad('malformed');
    const [body, sig] = parts as [string, string];
    const given = Buffer.from(sig, 'base64url');
    const expected = this.mac(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad('signature mismatch');
    let p: Partial<Payload>;
    try {
      p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<Payload>;
    } catch {
      throw bad('malformed');
    }
    if (p.v !== 1 || typeof p.u !== 'string' || typeof p.p !== 'string' || typeof p.e !== 'number' || typeof p.n !== 'string') throw bad('malformed');
    if (p.u !== upstream) throw bad('issued for another upstream');
    if (p.p === GATEWAY_PRINCIPAL) throw bad('not valid for the gateway identity');
    if (p.e <= this.now()) throw bad('expired');
    const id = expected.toString('base64url');
    if (this.used.get(id)) throw bad('already used');
    this.used.set(id, true);
    return { principalKey: p.p };
  }
}

/** The book the gateway mints with when none is passed. Its key lives and dies with the process. */
export const defaultTickets = new TicketBook();

/**
 * The URL a principal opens to authorize `upstream` for itself:
 * `<base>/oauth/upstream/<upstream>/authorize?ticket=…`. `base` is the gateway's public origin
 * (with an optional path prefix).
 */
export function makeTicketUrl(base: string, upstream: string, principalKey: string, book: TicketBook = defaultTickets): string {
  const u = new URL(base);
  const prefix = u.pathname.replace(/\/+$/, '');
  u.pathname = `${prefix}/oauth/upstream/${upstream}/authorize`;
  u.search = '';
  u.hash = '';
  u.searchParams.set('ticket', book.mint(upstream, principalKey));
  return u.href;
}
