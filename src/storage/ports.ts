/**
 * Storage ports: the only way the gateway reaches durable state. Each port has one contract suite
 * (test/contract/) that every backend (memory, SQLite, later PostgreSQL) must pass unchanged, so
 * behaviour that callers may rely on is spelled out here and asserted there.
 */

/** Most events `UpstreamEventStore.recent` returns, and most the memory backend keeps per upstream. */
export const RECENT_EVENTS_MAX = 1000;

/** The HTTP transport an upstream answered on when it was probed. */
export type UpstreamTransport = 'streamable-http' | 'sse';

/** Which protocol era the upstream speaks: 2025 sessions (`legacy`) or 2026-07-28 stateless (`modern`). */
export type UpstreamEra = 'legacy' | 'modern';

/** The cached result of probing an HTTP upstream, valid for one auth context. */
export interface EraVerdict {
  upstream: string;
  /** Which credentials the probe ran with; '' when the upstream needs none. Never a secret itself. */
  authContext: string;
  transport: UpstreamTransport;
  era: UpstreamEra;
  protocolVersion: string;
  /** Round-trips with millisecond precision. */
  probedAt: Date;
}

/**
 * Cached era verdicts keyed by `(upstream, authContext)`. Returned objects are copies: mutating
 * them never changes what is stored.
 */
export interface EraVerdictStore {
  get(upstream: string, authContext: string): Promise<EraVerdict | undefined>;
  /** Inserts, or replaces every field of the verdict with the same key. */
  put(v: EraVerdict): Promise<void>;
  /** Deletes one auth context's verdict, or every context of the upstream when omitted. */
  delete(upstream: string, authContext?: string): Promise<void>;
  /** Every verdict, ordered by upstream then authContext (UTF-16 code unit order, as `<` on strings). */
  list(): Promise<EraVerdict[]>;
}

/** A health state an upstream moved into. */
export type UpstreamState = 'healthy' | 'unhealthy' | 'starting' | 'stopped';

/** One health change of an upstream. */
export interface UpstreamEvent {
  upstream: string;
  at: Date;
  state: UpstreamState;
  reason?: string;
}

/** Append-only history of upstream health changes, read by `/readyz` and later by audit. */
export interface UpstreamEventStore {
  append(e: UpstreamEvent): Promise<void>;
  /**
   * The upstream's newest events first (by `at`, then latest appended first among equal `at`).
   * `limit` is floored and clamped to 0..RECENT_EVENTS_MAX.
   */
  recent(upstream: string, limit: number): Promise<UpstreamEvent[]>;
  /** Deletes every event with `at` strictly before `olderThan`; resolves to how many went. */
  prune(olderThan: Date): Promise<number>;
}

/** One open backend. After `close()` (idempotent) every operation rejects. */
export interface Store {
  eraVerdicts: EraVerdictStore;
  upstreamEvents: UpstreamEventStore;
  close(): Promise<void>;
}
