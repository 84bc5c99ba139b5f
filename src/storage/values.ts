/**
 * Value rules every backend shares, so memory, SQLite and PostgreSQL agree on dates, limits and
 * ordering byte for byte (the contract suites compare them).
 */
import { GatewayError } from '../pipeline/errors.js';
import { RECENT_EVENTS_MAX, type EraVerdict } from './ports.js';

// Fixed-width ISO form only: outside years 0000..9999 `toISOString` adds a sign and six digits,
// which would break the text ordering the SQL backends rely on for `at` comparisons.
const ISO_FIXED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A Date as the fixed-width UTC ISO string stored in SQL; rejects invalid or out-of-range dates. */
export function toIso(d: Date, field: string): string {
  const ms = d instanceof Date ? d.getTime() : Number.NaN;
  const iso = Number.isFinite(ms) ? new Date(ms).toISOString() : '';
  if (!ISO_FIXED.test(iso)) {
    throw new GatewayError('ERR_INTERNAL', `storage: ${field} must be a valid Date in years 0000..9999`);
  }
  return iso;
}

/** Epoch milliseconds of a Date, under the same rules as `toIso`. */
export function toMs(d: Date, field: string): number {
  toIso(d, field);
  return d.getTime();
}

/** Parses a stored ISO string back to a Date; a corrupt value is an internal error, not a NaN date. */
export function fromIso(s: string, field: string): Date {
  const d = new Date(s);
  if (!ISO_FIXED.test(s) || Number.isNaN(d.getTime())) {
    throw new GatewayError('ERR_INTERNAL', `storage: stored ${field} is not an ISO date`);
  }
  return d;
}

/** Floors and clamps a caller's limit to 0..RECENT_EVENTS_MAX (NaN counts as 0). */
export function clampLimit(limit: number): number {
  if (!Number.isFinite(limit)) return limit === Number.POSITIVE_INFINITY ? RECENT_EVENTS_MAX : 0;
  return Math.min(Math.max(Math.floor(limit), 0), RECENT_EVENTS_MAX);
}

/** The `list()` order: upstream, then authContext, by UTF-16 code units (SQL collations differ). */
export function compareVerdicts(a: EraVerdict, b: EraVerdict): number {
  if (a.upstream !== b.upstream) return a.upstream < b.upstream ? -1 : 1;
  if (a.authContext !== b.authContext) return a.authContext < b.authContext ? -1 : 1;
  return 0;
}

/** Tracks whether a store was closed, so every backend rejects use-after-close the same way. */
export class Lifecycle {
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  markClosed(): boolean {
    const was = this.#closed;
    this.#closed = true;
    return !was;
  }

  assertOpen(): void {
    if (this.#closed) throw new GatewayError('ERR_INTERNAL', 'storage: store is closed');
  }
}
