/**
 * Unit parsing for the schema's Duration and ByteSize formats. The schema validates the shape;
 * these functions turn a validated value into a plain number so nothing downstream parses units.
 */

const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * The longest delay setTimeout and setInterval honour (2^31−1 ms, about 24.8 days); Node.js runs
 * a longer one after 1 ms instead (with a TimeoutOverflowWarning).
 */
export const MAX_TIMER_MS = 2_147_483_647;

// Sizes are binary (1kb = 1024 bytes): limits are compared against buffer lengths.
const BYTES = { b: 1, kb: 1024, mb: 1024 * 1024 } as const;

/**
 * A Duration in milliseconds: a non-negative integer (already ms), a string of digits (ms; the
 * schema's own `'0'` defaults take this form) or digits followed by ms, s, m, h or d.
 * @throws RangeError when the value is none of these.
 */
export function parseDuration(v: number | string): number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
    throw new RangeError(`invalid duration: ${v}`);
  }
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new RangeError(`invalid duration: ${JSON.stringify(v)} (expected e.g. 500ms, 30s, 5m, 1h or 30d)`);
  const unit = (m[2] ?? 'ms') as keyof typeof DURATION_MS;
  return Number(m[1]) * DURATION_MS[unit];
}

/**
 * A ByteSize in bytes: a positive integer (already bytes) or digits followed by b, kb or mb
 * (case-insensitive, binary multiples).
 * @throws RangeError when the value is none of these.
 */
export function parseByteSize(v: number | string): number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v > 0) return v;
    throw new RangeError(`invalid size: ${v}`);
  }
  const m = /^(\d{1,9})(b|kb|mb)?$/i.exec(v.trim());
  if (!m) throw new RangeError(`invalid size: ${JSON.stringify(v)} (expected e.g. 512kb or 1mb)`);
  const unit = (m[2] ?? 'b').toLowerCase() as keyof typeof BYTES;
  const n = Number(m[1]) * BYTES[unit];
  if (n <= 0) throw new RangeError(`invalid size: ${JSON.stringify(v)} (must be positive)`);
  return n;
}
