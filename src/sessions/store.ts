/**
 * The bounded legacy session store: an idle TTL (a session with a call in flight or its GET
 * stream open is busy, not idle; its idle time counts from when the last of these ended), a hard
 * cap with least-recently-used eviction, and 404 for anything unknown, expired, evicted,
 * presented by another principal or on the other transport's routes (mcp-protocol.md §19;
 * security-checklist B7).
 */
import type { LegacySession, SessionTransport } from './session.js';
import type { Principal } from '../pipeline/context.js';

export interface SessionLimits {
  idleTtlMs: number;
  max: number;
}

export class SessionStore {
  /** Insertion order doubles as recency order: touching a session moves it to the end. */
  private readonly sessions = new Map<string, LegacySession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private limits: SessionLimits,
    private readonly onClose: (s: LegacySession, reason: string) => void,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.min(limits.idleTtlMs / 4, 30_000)));
    this.sweeper.unref();
  }

  setLimits(l: SessionLimits): void {
    this.limits = l;
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Adds a session; at the cap the least recently used *idle* session makes room. A session
   * with a call in flight or an open GET stream is never evicted for a newcomer: when every
   * session is busy, the newcomer is refused (false → 503) instead of cancelling others' work.
   */
  add(s: LegacySession): boolean {
    while (this.sessions.size >= this.limits.max) {
      let victim: LegacySession | undefined;
      for (const c of this.sessions.values()) {
        if (!c.isBusy()) {
          victim = c;
          break;
        }
      }
      if (!victim) return false;
      this.remove(victim.id, 'evicted');
    }
    this.sessions.set(s.id, s);
    return true;
  }

  /**
   * The session, if it exists, belongs to this endpoint, principal and transport, and has not
   * expired.
   */
  get(id: string, endpoint: string, principal: Principal, transport: SessionTransport): LegacySession | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.endpoint !== endpoint || s.transport !== transport || !samePrincipal(s.principal, principal)) return undefined;
    const now = Date.now();
    if (now - s.lastSeen > this.limits.idleTtlMs && !s.isBusy()) {
      this.remove(id, 'expired');
      return undefined;
    }
    s.lastSeen = now;
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s;
  }

  remove(id: string, reason: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    this.sessions.delete(id);
    s.close();
    this.onClose(s, reason);
    return true;
  }

  all(): IterableIterator<LegacySession> {
    return this.sessions.values();
  }

  private sweep(): void {
    const cutoff = Date.now() - this.limits.idleTtlMs;
    for (const s of [...this.sessions.values()]) if (s.lastSeen < cutoff && !s.isBusy()) this.remove(s.id, 'expired');
  }

  closeAll(reason: string): void {
    clearInterval(this.sweeper);
    for (const id of [...this.sessions.keys()]) this.remove(id, reason);
  }
}

/** The same caller: subject, tenant and the issuer that vouched for them (B7). */
function samePrincipal(a: Principal, b: Principal): boolean {
  return a.subject === b.subject && a.tenant === b.tenant && a.issuer === b.issuer && a.authMethod === b.authMethod;
}
