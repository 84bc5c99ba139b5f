/**
 * Table shapes shared by every SQL backend (SQLite now, PostgreSQL later). Dates are fixed-width
 * UTC ISO strings in `text` columns: portable, millisecond-exact, and ordered correctly as text.
 */
import type { Generated } from 'kysely';

export interface EraVerdictsTable {
  upstream: string;
  auth_context: string;
  transport: string;
  era: string;
  protocol_version: string;
  probed_at: string;
}

export interface UpstreamEventsTable {
  // Only used to order events that share an `at`; never read back (PostgreSQL returns bigint as text).
  id: Generated<number | string>;
  upstream: string;
  at: string;
  state: string;
  reason: string | null;
}

/** The database as Kysely sees it. */
export interface StorageDb {
  era_verdicts: EraVerdictsTable;
  upstream_events: UpstreamEventsTable;
}
