/**
 * The gateway's own pagination cursors (mcp-protocol.md §14). An aggregator must own its cursors:
 * each one carries the virtual server, position, catalogue version, principal and list kind, and
 * is sealed with HMAC-SHA256 so a client can neither forge a position nor replay another
 * principal's cursor. Sealed, not encrypted: the contents are not secret (the principal is a
 * hash), only their integrity matters.
 *
 * Wire form: base64url( 0x01 | compact JSON | first 16 bytes of HMAC(key, label | 0x01 | JSON) ).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../pipeline/errors.js';

/** What a cursor says. Field names are short because cursors travel on every page request. */
export interface CursorPayload {
  /** Virtual server name. */
  v: string;
  /** Offset into the merged list. */
  o: number;
  /** Catalogue version the offset refers to. */
  c: number;
  /** Hash of the principal the cursor was issued to. */
  p: string;
  /** List kind, e.g. `tools`, `prompts`, `resources`, `resourceTemplates`. */
  k: string;
}

/** Cursors longer than this are refused unread (they cannot be ours). */
export const MAX_CURSOR_CHARS = 512;

const VERSION = 0x01;
const MAC_BYTES = 16;
const MIN_KEY_BYTES = 16;
// Domain separation: the same key material can never make a cursor MAC valid for another use.
const LABEL = Buffer.from('portcullis/cursor\u0000', 'utf8');
const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;

/** A fresh random 32-byte cursor key. */
export function newCursorKey(): Buffer {
  return randomBytes(32);
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new GatewayError('ERR_INTERNAL', 'cursor key must be a Buffer of at least 16 bytes');
  }
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(LABEL).update(body).digest().subarray(0, MAC_BYTES);
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/**
 * Seals `payload` into an opaque cursor string. Throws `ERR_INTERNAL` on a bad key, a payload that
 * is not well-formed (offset and version must be non-negative safe integers) or a cursor that
 * would exceed {@link MAX_CURSOR_CHARS}: all programming errors, not client input.
 */
export function sealCursor(key: Buffer, payload: CursorPayload): string {
  checkKey(key);
  if (!isCount(payload.o) || !isCount(payload.c) || typeof payload.v !== 'string' || typeof payload.p !== 'string' || typeof payload.k !== 'string') {
    throw new GatewayError('ERR_INTERNAL', 'malformed cursor payload');
  }
  // Fixed field order and only these fields: the MAC covers exactly what openCursor checks.
  const json = Buffer.from(JSON.stringify({ v: payload.v, o: payload.o, c: payload.c, p: payload.p, k: payload.k }), 'utf8');
  const body = Buffer.allocUnsafe(1 + json.length);
  body[0] = VERSION;
  json.copy(body, 1);
  const out = Buffer.concat([body, mac(key, body)]).toString('base64url');
  if (out.length > MAX_CURSOR_CHARS) throw new GatewayError('ERR_INTERNAL', 'cursor payload too large');
  return out;
}

/**
 * Opens a cursor sealed with `key`. Returns undefined for anything that is not a cursor this key
 * sealed: empty string (valid for the spec, never issued by us), oversize, non-base64url or
 * non-canonical base64url, bad MAC (tampering, other key), unknown version, malformed contents.
 * Never throws on client input; the caller answers undefined with `ERR_INVALID_CURSOR` (-32602).
 */
export function openCursor(key: Buffer, cursor: string): CursorPayload | undefined {
  checkKey(key);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS) return undefined;
  if (!BASE64URL_RE.test(cursor)) return undefined;
  const raw = Buffer.from(cursor, 'base64url');
  // Unused low bits of the last character would otherwise give several spellings of one cursor.
  if (raw.toString('base64url') !== cursor) return undefined;
  if (raw.length < 1 + 2 + MAC_BYTES || raw[0] !== VERSION) return undefined;
  const body = raw.subarray(0, raw.length - MAC_BYTES);
  const tag = raw.subarray(raw.length - MAC_BYTES);
  if (!timingSafeEqual(tag, mac(key, body))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.subarray(1).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const p = parsed as Record<string, unknown>;
  if (typeof p.v !== 'string' || typeof p.p !== 'string' || typeof p.k !== 'string' || !isCount(p.o) || !isCount(p.c)) {
    return undefined;
  }
  return { v: p.v, o: p.o, c: p.c, p: p.p, k: p.k };
}
