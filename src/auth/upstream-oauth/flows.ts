/**
 * Authorization requests in flight, keyed by their `state`: a fresh 256-bit random value, kept
 * only here (server side), bound to the upstream, the principal, the issuer recorded before the
 * redirect (RFC 9207), the PKCE verifier and the discovery the request was built from. An entry
 * lives ten minutes and is removed by its first use. The registry is bounded in total and per
 * principal, so no caller can grow it or push other principals' flows out.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { OAuthDiscoveryState } from '@modelcontextprotocol/client';

/** How long an authorization request may take, redirect to callback. */
export const FLOW_TTL_MS = 10 * 60_000;
const MAX_FLOWS = 10_000;
const MAX_FLOWS_PER_PRINCIPAL = 8;

/** One pending authorization request. */
export interface PendingFlow {
  upstream: string;
  principalKey: string;
  /** The authorization server's issuer, exactly as its metadata states it. */
  issuer: string;
  /** The metadata advertised `authorization_response_iss_parameter_supported: true`. */
  issParameterSupported: boolean;
  codeVerifier: string;
  /** Discovery the request was built from; the callback leg reuses it (no second discovery). */
  discovery: OAuthDiscoveryState;
  /** The scope sent in the authorization request, if any. */
  scope?: string;
  /** SHA-256 of the browser-binding nonce (a cookie), when the flow was started from a browser. */
  bindingHash?: Buffer;
}

/** A new state value: 32 random bytes, base64url (43 characters). */
export function newState(): string {
  return randomBytes(32).toString('base64url');
}

const keyOf = (state: string): string => createHash('sha256').update(state, 'utf8').digest('base64url');
const ownerOf = (f: PendingFlow): string => createHash('sha256').update(`${f.upstream}\u0000${f.principalKey}`, 'utf8').digest('base64url');

/** State values look like ours: base64url, bounded. Anything else is unknown without a lookup. */
const STATE_SHAPE = /^[A-Za-z0-9_-]{16,128}$/;

/** The pending authorization requests of the process (shared by every upstream and the callback route). */
export class FlowRegistry {
  private readonly flows = new Map<string, { flow: PendingFlow; exp: number; owner: string }>();
  private readonly byOwner = new Map<string, string[]>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly ttlMs: number = FLOW_TTL_MS,
  ) {}

  /** Records a flow under its state. The principal's oldest pending flows beyond 8 are dropped. */
  put(state: string, flow: PendingFlow): void {
    this.sweep();
    const key = keyOf(state);
    const owner = ownerOf(flow);
    this.flows.set(key, { flow, exp: this.now() + this.ttlMs, owner });
    const list = [...(this.byOwner.get(owner) ?? []), key];
    while (list.length > MAX_FLOWS_PER_PRINCIPAL) this.drop(list.shift() as string, false);
    this.byOwner.set(owner, list);
    while (this.flows.size > MAX_FLOWS) {
      const first = this.flows.keys().next();
      if (first.done) break;
      this.drop(first.value, true);
    }
  }

  /** The upstream a state belongs to, without consuming it (the callback route dispatches on it). */
  upstreamOf(state: string): string | undefined {
    return this.live(state)?.flow.upstream;
  }

  /** Removes and returns the flow: a state is good for one callback only. */
  take(state: string): PendingFlow | undefined {
    const e = this.live(state);
    if (!e) return undefined;
    this.drop(keyOf(state), true);
    return e.flow;
  }

  /** Number of pending flows. */
  get size(): number {
    return this.flows.size;
  }

  private live(state: string): { flow: PendingFlow; exp: number; owner: string } | undefined {
    if (typeof state !== 'string' || !STATE_SHAPE.test(state)) return undefined;
    const key = keyOf(state);
    const e = this.flows.get(key);
    if (!e) return undefined;
    if (e.exp <= this.now()) {
      this.drop(key, true);
      return undefined;
    }
    return e;
  }

  private drop(key: string, fromOwner: boolean): void {
    const e = this.flows.get(key);
    this.flows.delete(key);
    if (!e || !fromOwner) return;
    const rest = (this.byOwner.get(e.owner) ?? []).filter((k) => k !== key);
    if (rest.length) this.byOwner.set(e.owner, rest);
    else this.byOwner.delete(e.owner);
  }

  private sweep(): void {
    const now = this.now();
    // Bounded by MAX_FLOWS entries; entries are in insertion (= expiry) order.
    for (const [key, e] of this.flows) {
      if (e.exp > now) break;
      this.drop(key, true);
    }
  }
}

/** The registry the gateway shares between its upstream OAuth clients and the callback route. */
export const defaultFlows = new FlowRegistry();
