/**
 * Mirrored request headers of the 2026-07-28 Streamable HTTP transport (mcp-protocol.md §5.1,
 * spec 2026-07-28 basic/transports/streamable-http "Request Metadata").
 *
 * The gateway processes bodies, so it checks every mirrored header of a modern request against the
 * body before policy (mismatch → 400 / -32020 HeaderMismatch), and regenerates the headers from the
 * (rewritten) body for a modern upstream instead of copying the client's.
 */
import { META } from './eras.js';

const WRAP_START = '=?base64?';
const WRAP_END = '?=';
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
// RFC 9110 tchar: the only characters an `x-mcp-header` name (and so a header name) may use.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_SCHEMA_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True when `s` can travel as a plain header value: visible ASCII and inner spaces/tabs only. */
function isPlainSafe(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return false;
  }
  // Even the overlapping `=?base64?=` is wrapped: a stricter reader could take it for a wrapper.
  return !(s.startsWith(WRAP_START) && s.endsWith(WRAP_END));
}

/** True when `s` holds only characters a received header value may have (VCHAR, SP, HTAB). */
function isValidRaw(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return false;
  }
  return true;
}

function isWrapped(s: string): boolean {
  return s.length >= WRAP_START.length + WRAP_END.length && s.startsWith(WRAP_START) && s.endsWith(WRAP_END);
}

/**
 * A header value for `v`: integers in decimal, booleans as `true`/`false`, strings as-is unless
 * they are not header-safe (non-ASCII, control characters, leading/trailing whitespace) or look
 * like the wrapper, in which case they are sent as `=?base64?<base64 of UTF-8>?=`.
 */
export function encodeHeaderValue(v: string | number | boolean): string {
  const s = typeof v === 'string' ? v : String(v);
  return isPlainSafe(s) ? s : WRAP_START + Buffer.from(s, 'utf8').toString('base64') + WRAP_END;
}

/**
 * The value a received header stands for: a `=?base64?…?=` value decoded (standard alphabet,
 * padded to a multiple of 4 as the conformance suite's SEP-2243 checks require, valid UTF-8), anything else as-is. Undefined when the wrapper is
 * malformed or the raw value has characters a header value may not have.
 */
export function decodeHeaderValue(s: string): string | undefined {
  if (!isValidRaw(s)) return undefined;
  if (!isWrapped(s)) return s;
  const b64 = s.slice(WRAP_START.length, s.length - WRAP_END.length);
  if (!BASE64_RE.test(b64)) return undefined;
  if (b64.length % 4 !== 0) return undefined;
  try {
    return utf8.decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

const ALLOWED_TYPES = new Set(['string', 'integer', 'boolean']);

function isAllowedType(t: unknown): boolean {
  if (typeof t === 'string') return ALLOWED_TYPES.has(t);
  if (!Array.isArray(t)) return false;
  // ["string", "null"] is still a primitive parameter; a null value just omits the header.
  let primitives = 0;
  for (const x of t) {
    if (x === 'null') continue;
    if (typeof x !== 'string' || !ALLOWED_TYPES.has(x)) return false;
    primitives++;
  }
  return primitives > 0;
}

// JSON Schema keywords whose value is a subschema, an array of subschemas, or a map of them.
// Annotations under any of these are not statically reachable and make the tool invalid.
const SUBSCHEMA = ['additionalProperties', 'additionalItems', 'unevaluatedProperties', 'unevaluatedItems', 'items', 'contains', 'propertyNames', 'not', 'if', 'then', 'else'];
const SUBSCHEMA_ARRAYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'];
const SUBSCHEMA_MAPS = ['$defs', 'definitions', 'patternProperties', 'dependentSchemas', 'dependencies'];

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The `x-mcp-header` annotations of a tool's `inputSchema`: header name part `X` (as written) →
 * property path in the arguments. `{error}` when any annotation is invalid (not a token, not on a
 * string/integer/boolean property, not reachable through plain `properties` chains, duplicated
 * ignoring case) or the schema is nested absurdly deep: such a tool must be dropped from lists.
 */
export function headerParamMap(inputSchema: unknown): Map<string, string[]> | { error: string } {
  const map = new Map<string, string[]>();
  const seen = new Set<string>();
  const walk = (s: unknown, path: string[] | undefined, depth: number): string | undefined => {
    if (!isObject(s)) return undefined;
    if (depth > MAX_SCHEMA_DEPTH) return 'inputSchema nested too deeply';
    if (Object.hasOwn(s, 'x-mcp-header')) {
      const h = s['x-mcp-header'];
      const where = path ? path.join('.') : '(not a properties chain)';
      if (path === undefined || path.length === 0) return `x-mcp-header at ${where} is not statically reachable`;
      if (typeof h !== 'string' || !TOKEN_RE.test(h)) return `x-mcp-header at ${where} is not a valid header name`;
      if (!isAllowedType(s.type)) return `x-mcp-header at ${where} is not on a string, integer or boolean property`;
      const lower = h.toLowerCase();
      if (seen.has(lower)) return `x-mcp-header "${h}" is used twice (ignoring case)`;
      seen.add(lower);
      map.set(h, path);
    }
    const props = s.properties;
    if (isObject(props)) {
      for (const name of Object.keys(props)) {
        const err = walk(props[name], path ? [...path, name] : undefined, depth + 1);
        if (err) return err;
      }
    }
    for (const k of SUBSCHEMA) {
      const err = walk(s[k], undefined, depth + 1);
      if (err) return err;
    }
    for (const k of SUBSCHEMA_ARRAYS) {
      const arr = s[k];
      if (!Array.isArray(arr)) continue;
      for (const sub of arr) {
        const err = walk(sub, undefined, depth + 1);
        if (err) return err;
      }
    }
    for (const k of SUBSCHEMA_MAPS) {
      const m = s[k];
      if (!isObject(m)) continue;
      for (const name of Object.keys(m)) {
        const err = walk(m[name], undefined, depth + 1);
        if (err) return err;
      }
    }
    return undefined;
  };
  const err = walk(inputSchema, [], 0);
  return err ? { error: err } : map;
}

/** The subset of a JSON-RPC message the checks read. A message with an `id` member is a request. */
export interface MirrorBody {
  method: string;
  params?: Record<string, unknown>;
  id?: unknown;
}

/** Methods whose `Mcp-Name` is required, and the param it mirrors. */
const NAME_PARAM: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

function valueAt(root: unknown, path: readonly string[]): unknown {
  let cur = root;
  for (const k of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = cur[k];
  }
  return cur;
}

const NUMBER_RE = /^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/** Does decoded header value `h` stand for body value `v`? */
function sameValue(h: string, v: unknown): boolean {
  if (typeof v === 'string') return h === v;
  if (typeof v === 'boolean') return h === (v ? 'true' : 'false');
  if (typeof v === 'number') return NUMBER_RE.test(h) && Number(h) === v; // 42.0 equals 42
  return false;
}

function single(headers: Record<string, string | string[] | undefined>, name: string): string | undefined | null {
  const h = headers[name];
  if (h === undefined) return undefined;
  // Node joins most repeated headers with ", " but keeps some as arrays: either way, one value only.
  return typeof h === 'string' ? h : null;
}

/**
 * Checks the mirrored headers of a modern request against its body. `headers` has lower-case
 * names (as Node gives them). `paramMap` comes from {@link headerParamMap} for the called tool;
 * its headers are compared with `params.arguments`. Unknown `mcp-param-*` headers are ignored.
 * Failure → the caller answers 400 / `ERR_HEADER_MISMATCH` (-32020) with `message`.
 */
export function checkMirroredHeaders(
  headers: Record<string, string | string[] | undefined>,
  body: MirrorBody,
  paramMap?: ReadonlyMap<string, readonly string[]>,
): { ok: true } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });

  const version = single(headers, 'mcp-protocol-version');
  if (version === undefined) return fail('Header mismatch: MCP-Protocol-Version header is missing');
  const meta = body.params?._meta;
  const bodyVersion = isObject(meta) ? meta[META.protocolVersion] : undefined;
  if (version === null || version !== bodyVersion) return fail('Header mismatch: MCP-Protocol-Version does not match _meta protocolVersion');

  const isRequest = Object.hasOwn(body, 'id');
  const method = single(headers, 'mcp-method');
  if (method === undefined) {
    if (isRequest) return fail('Header mismatch: Mcp-Method header is missing');
  } else if (method !== body.method) {
    return fail('Header mismatch: Mcp-Method does not match method');
  }

  const nameParam = NAME_PARAM[body.method];
  if (nameParam !== undefined) {
    const raw = single(headers, 'mcp-name');
    if (raw === undefined) return fail('Header mismatch: Mcp-Name header is missing');
    const decoded = raw === null ? undefined : decodeHeaderValue(raw);
    if (decoded === undefined) return fail('Header mismatch: Mcp-Name header is malformed');
    const bodyName = body.params?.[nameParam];
    if (typeof bodyName !== 'string' || decoded !== bodyName) return fail(`Header mismatch: Mcp-Name does not match params.${nameParam}`);
  }

  if (paramMap && paramMap.size > 0) {
    const args = body.params?.arguments;
    for (const [x, path] of paramMap) {
      const headerName = 'mcp-param-' + x.toLowerCase();
      const raw = single(headers, headerName);
      const v = valueAt(args, path);
      if (v === undefined || v === null) {
        if (raw !== undefined) return fail(`Header mismatch: Mcp-Param-${x} is present but the argument is absent`);
        continue;
      }
      if (raw === undefined) {
        // A non-primitive value cannot be mirrored; input validation rejects it later.
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
        return fail(`Header mismatch: Mcp-Param-${x} header is missing`);
      }
      const decoded = raw === null ? undefined : decodeHeaderValue(raw);
      if (decoded === undefined) return fail(`Header mismatch: Mcp-Param-${x} header is malformed`);
      if (!sameValue(decoded, v)) return fail(`Header mismatch: Mcp-Param-${x} does not match the argument`);
    }
  }
  return { ok: true };
}

/**
 * The mirrored headers the gateway sends to a modern upstream for `body` (already rewritten to the
 * upstream's names): `MCP-Protocol-Version` (from `_meta`), `Mcp-Method`, `Mcp-Name` where the
 * method has one, and `Mcp-Param-X` for each present primitive argument in `paramMap`. Values are
 * encoded with {@link encodeHeaderValue}; absent or null arguments get no header.
 */
export function mirroredHeadersFor(body: MirrorBody, paramMap?: ReadonlyMap<string, readonly string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  const meta = body.params?._meta;
  const version = isObject(meta) ? meta[META.protocolVersion] : undefined;
  if (typeof version === 'string') out['MCP-Protocol-Version'] = encodeHeaderValue(version);
  out['Mcp-Method'] = encodeHeaderValue(body.method);
  const nameParam = NAME_PARAM[body.method];
  if (nameParam !== undefined) {
    const name = body.params?.[nameParam];
    if (typeof name === 'string') out['Mcp-Name'] = encodeHeaderValue(name);
  }
  if (paramMap) {
    const args = body.params?.arguments;
    for (const [x, path] of paramMap) {
      const v = valueAt(args, path);
      if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) {
        out[`Mcp-Param-${x}`] = encodeHeaderValue(v);
      }
    }
  }
  return out;
}
