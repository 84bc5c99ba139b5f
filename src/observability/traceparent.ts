/**
 * The W3C Trace Context `traceparent` a caller sends (header, or `_meta.traceparent` in a modern
 * request): honoured only when valid, whether or not tracing is on, since it is also passed
 * upstream and written into logs and audit records.
 */

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

/**
 * `v` when it is a valid traceparent (W3C Trace Context §3.2: lower-case hex, version ff
 * invalid, neither id all zeros), else undefined.
 */
export function validTraceparent(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length !== 55) return undefined;
  const m = TRACEPARENT.exec(v);
  if (!m || m[1] === 'ff' || ZEROS.test(m[2]!) || ZEROS.test(m[3]!)) return undefined;
  return v;
}
