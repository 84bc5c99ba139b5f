/**
 * Record shapes and the helpers that build their fields. Every record is one canonical JSON
 * object (docs/audit.md): the writer adds `v`, `log`, `seq`, `ts`, `type` and `prev`; the
 * builders here add the event fields. Nothing here ever copies an argument or result value:
 * payloads are represented by their top-level key names, byte length and an HMAC under the
 * tenant's key.
 */
import { createHash, createHmac, hash } from 'node:crypto';

/** Event types the gateway writes. `admin.<action>` adds its own suffix. */
export type EventType =
  | 'authn.success'
  | 'authn.failure'
  | 'tool.list'
  | 'tool.call.decision'
  | 'tool.call.result'
  | 'tool.call.error'
  | 'tool.call.timeout'
  | 'tool.call.cancelled'
  | 'tool.call.outcome_unknown'
  | 'ratelimit.exceeded'
  | 'policy.changed'
  | 'config.changed'
  | `admin.${string}`
  | 'upstream.health'
  | 'audit.checkpoint'
  | 'audit.gap'
  | 'audit.recovery'
  | 'audit.key_rotated'
  | 'audit.retention';

/** Event fields: JSON values only (the writer canonicalises them). */
export type Fields = Record<string, unknown>;

/** Longest caller- or upstream-supplied string kept in a record (tool names, reasons, URIs). */
export const MAX_STRING = 256;
/** Most argument key names kept. */
export const MAX_KEYS = 64;

/** A bounded, well-formed string: caller text never makes a record unbounded or uncanonicalisable. */
export function bound(s: unknown, max = MAX_STRING): string {
  const t = typeof s === 'string' ? s : String(s);
  const w = (t.length > max ? t.slice(0, max) : t) as string & { toWellFormed(): string };
  return w.toWellFormed();
}

/** Log id of a tenant's log: `t-<tenant>` (tenant ids are file-name safe; others are hashed). */
export function tenantLogId(tenant: string): string {
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(tenant)) return `t-${tenant}`;
  return `t-x${createHash('sha256').update(tenant).digest('hex').slice(0, 24)}`;
}

export const SYSTEM_LOG = 'system';

/** HMAC-SHA256 block size (RFC 2104 `B`). */
const BLOCK = 64;

/** Per key: `[K ⊕ ipad, scratch whose first 64 bytes are K ⊕ opad]` (RFC 2104), computed once. */
const pads = new WeakMap<Buffer, { inner: Buffer; outer: Buffer }>();

function padsOf(key: Buffer): { inner: Buffer; outer: Buffer } {
  let p = pads.get(key);
  if (p) return p;
  const k = key.length > BLOCK ? hash('sha256', key, 'buffer') : key;
  const inner = Buffer.alloc(BLOCK, 0x36);
  const outer = Buffer.alloc(BLOCK + 32, 0x5c);
  for (let i = 0; i < k.length; i += 1) {
    inner[i] = (inner[i] as number) ^ (k[i] as number);
    outer[i] = (outer[i] as number) ^ (k[i] as number);
  }
  p = { inner, outer };
  pads.set(key, p);
  return p;
}

/** Scratch for `K ⊕ ipad ‖ text` (grown on demand up to MAX_SCRATCH; the hot path is synchronous, so one is enough). */
let scratch = Buffer.allocUnsafe(16 * 1024);
const MAX_SCRATCH = 256 * 1024;

/**
 * HMAC-SHA256(key, UTF-8 of text) as hex, and the text's UTF-8 byte length: RFC 2104 written
 * as two one-shot SHA-256 calls over precomputed pads. It equals `createHmac('sha256', key)`
 * (a unit test checks that) without a Hmac object and a key import per call, and encodes the
 * text once for both the MAC and its length.
 */
export function hmacText(key: Buffer, text: string): { bytes: number; hex: string } {
  const need = BLOCK + text.length * 3;
  if (need > MAX_SCRATCH) return { bytes: Buffer.byteLength(text), hex: createHmac('sha256', key).update(text).digest('hex') };
  const { inner, outer } = padsOf(key);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.min(MAX_SCRATCH, Math.max(need, scratch.length * 2)));
  inner.copy(scratch, 0);
  const bytes = scratch.write(text, BLOCK, 'utf8');
  hash('sha256', scratch.subarray(0, BLOCK + bytes), 'buffer').copy(outer, BLOCK);
  return { bytes, hex: hash('sha256', outer, 'hex') };
}

/** `{keys, bytes, hmac_sha256}` of a payload: what was sent, without what it said. */
export function payloadDigest(hmacKey: Buffer, value: unknown): { keys?: string[]; bytes: number; hmac_sha256: string } {
  // The compact JSON text is what the gateway forwards (key order as received), so the tenant
  // can recompute the HMAC from any copy of the payload it keeps.
  const text = value === undefined ? '' : JSON.stringify(value);
  const mac = hmacText(hmacKey, text);
  const out: { keys?: string[]; bytes: number; hmac_sha256: string } = { bytes: mac.bytes, hmac_sha256: mac.hex };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys: string[] = [];
    for (const k in value as Record<string, unknown>) {
      if (keys.length >= MAX_KEYS) break;
      keys.push(k.length <= 128 && (k as string & { isWellFormed(): boolean }).isWellFormed() ? k : bound(k, 128));
    }
    out.keys = keys;
  }
  return out;
}

/** SHA-256 (hex) of a set of names, sorted and newline-joined: the `tool.list` fingerprint. */
export function namesDigest(names: readonly string[]): string {
  return createHash('sha256').update([...names].sort().join('\n')).digest('hex');
}

/** Types whose record closes a `tool.call.decision`. */
export const OUTCOME_TYPES: ReadonlySet<string> = new Set([
  'tool.call.result',
  'tool.call.error',
  'tool.call.timeout',
  'tool.call.cancelled',
  'tool.call.outcome_unknown',
]);
