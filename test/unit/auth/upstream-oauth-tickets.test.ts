/**
 * Authorization tickets (src/auth/upstream-oauth/tickets.ts): HMAC-sealed, bound to one upstream
 * and one principal, ten minutes, single use, never for the gateway identity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { GATEWAY_PRINCIPAL, TICKET_TTL_MS, TicketBook, makeTicketUrl } from '../../../src/auth/upstream-oauth/tickets.js';

function clock(start = 1_800_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function refused(fn: () => unknown, why: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT' && why.test(e.message));
}

/** Re-encodes the payload of a ticket with `change` applied, keeping the original signature. */
function tamper(ticket: string, change: (p: Record<string, unknown>) => void): string {
  const [body, sig] = ticket.split('.') as [string, string];
  const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(p);
  return `${Buffer.from(JSON.stringify(p), 'utf8').toString('base64url')}.${sig}`;
}

test('a ticket names its upstream and principal and redeems once', () => {
  const book = new TicketBook();
  const t = book.mint('github', 'acme:alice');
  assert.match(t, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(book.redeem(t, 'github'), { principalKey: 'acme:alice' });
  refused(() => book.redeem(t, 'github'), /already used/);
  // Two tickets for the same principal are distinct and independently usable.
  const a = book.mint('github', 'acme:alice');
  const b = book.mint('github', 'acme:alice');
  assert.notEqual(a, b);
  assert.equal(book.redeem(b, 'github').principalKey, 'acme:alice');
  assert.equal(book.redeem(a, 'github').principalKey, 'acme:alice');
});

test('a tampered ticket is refused: other principal, other upstream, later expiry, altered signature', () => {
  const c = clock();
  const book = new TicketBook({ now: c.now });
  const t = book.mint('github', 'acme:alice');
  refused(() => book.redeem(tamper(t, (p) => (p.p = 'acme:mallory')), 'github'), /signature/);
  refused(() => book.redeem(tamper(t, (p) => (p.u = 'jira')), 'jira'), /signature/);
  refused(() => book.redeem(tamper(t, (p) => (p.e = (p.e as number) + 3_600_000)), 'github'), /signature/);
  const [body, sig] = t.split('.') as [string, string];
  const flipped = `${body}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
  refused(() => book.redeem(flipped, 'github'), /signature/);
  // None of the attempts consumed it.
  assert.equal(book.redeem(t, 'github').principalKey, 'acme:alice');
});

test('a ticket is refused for another upstream than it names, and that does not consume it', () => {
  const book = new TicketBook();
  const t = book.mint('github', 'acme:alice');
  refused(() => book.redeem(t, 'jira'), /another upstream/);
  assert.equal(book.redeem(t, 'github').principalKey, 'acme:alice');
});

test('a ticket expires after ten minutes', () => {
  const c = clock();
  const book = new TicketBook({ now: c.now });
  const fresh = book.mint('github', 'acme:alice');
  const old = book.mint('github', 'acme:bob');
  c.advance(TICKET_TTL_MS - 1);
  assert.equal(book.redeem(fresh, 'github').principalKey, 'acme:alice');
  c.advance(1);
  refused(() => book.redeem(old, 'github'), /expired/);
});

test('a ticket from another key (another process) is refused', () => {
  const other = new TicketBook({ key: randomBytes(32) });
  const mine = new TicketBook({ key: randomBytes(32) });
  refused(() => mine.redeem(other.mint('github', 'acme:alice'), 'github'), /signature/);
});

test('malformed tickets are refused without throwing anything but ERR_BAD_INPUT', () => {
  const book = new TicketBook();
  for (const bad of ['', 'x', 'a.b.c', '.', `${'a'.repeat(5000)}.${'b'.repeat(43)}`, `abc.${'!'.repeat(43)}`, `@@@.${'a'.repeat(43)}`]) {
    refused(() => book.redeem(bad, 'github'), /malformed|signature/);
  }
});

test('the gateway identity never gets a ticket', () => {
  const book = new TicketBook();
  assert.throws(() => book.mint('github', GATEWAY_PRINCIPAL), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT');
  assert.throws(() => book.mint('bad name!', 'acme:alice'), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT');
  assert.throws(() => book.mint('github', ''), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT');
});

test('makeTicketUrl builds the authorize route under the public base (path prefix kept)', () => {
  const book = new TicketBook();
  for (const base of ['https://gw.example.com', 'https://gw.example.com/', 'https://gw.example.com/mcp-gw/']) {
    const u = new URL(makeTicketUrl(base, 'github', 'acme:alice', book));
    const prefix = new URL(base).pathname.replace(/\/+$/, '');
    assert.equal(u.origin, 'https://gw.example.com');
    assert.equal(u.pathname, `${prefix}/oauth/upstream/github/authorize`);
    assert.deepEqual([...u.searchParams.keys()], ['ticket']);
    assert.equal(book.redeem(u.searchParams.get('ticket') ?? '', 'github').principalKey, 'acme:alice');
  }
});
