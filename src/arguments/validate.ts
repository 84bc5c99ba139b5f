/**
 * Tool-call arguments against the tool's `inputSchema` (security-checklist D2), with ajv compiled
 * once per schema. Schemas come from upstreams, so they are untrusted input too:
 *
 *  - the dialect is JSON Schema 2020-12 (the MCP default); `$schema` draft-07 or draft-06 use a
 *    draft-07 instance; any other declared dialect is refused;
 *  - a schema that is too big, too deep, uses a remote `$ref` (ajv never fetches: no `loadSchema`),
 *    has a ReDoS-prone pattern (regexp.ts) or otherwise does not compile is refused: calls to
 *    that tool fail closed with ERR_UPSTREAM_PROTOCOL, logged once per distinct schema;
 *  - `strict: false` so unknown keywords and formats of real-world schemas are ignored, not fatal;
 *    `$data` stays off; `addUsedSchema: false` so a hostile `$id` cannot shadow another tool.
 *
 * Caches: a WeakMap by schema object (no hashing on the hot path), and a bounded LRU by a hash of
 * the canonical schema, so identical schemas of many tools share one compiled validator.
 */
import { createHash } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { GatewayError } from '../pipeline/errors.js';
import { isObject } from '../mcp/jsonrpc.js';
import { safeRegExp } from './regexp.js';

export const MAX_SCHEMA_BYTES = 256 * 1024;
export const MAX_SCHEMA_DEPTH = 64;
const HASH_CACHE_SIZE = 1024;
// ajv keeps every compiled schema and pattern in its instance's scope, so an instance is retired
// after this many compilations; its validators live on until they leave both caches.
const COMPILES_PER_INSTANCE = 256;

// ajv-formats is CommonJS with a default export; under NodeNext the namespace object is what arrives.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => void;

/** The contract of one tool, compiled. */
export type CompiledSchema =
  | { readonly kind: 'trivial' }
  | { readonly kind: 'ajv'; readonly validate: ValidateFunction }
  | { readonly kind: 'broken'; readonly reason: string; /** Set once the refusal is logged: once per distinct schema. */ reported: boolean };

/** One refused argument, as shown to the caller: no value is ever echoed. */
export interface ArgumentError {
  instancePath: string;
  keyword: string;
  message: string;
}

const TRIVIAL: CompiledSchema = Object.freeze({ kind: 'trivial' });
const EMPTY_ARGS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
// The only keys a trivial root may have (values checked in isTrivial): annotations plus an open `type: object`.
const TRIVIAL_KEYS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'examples', 'default', 'type', 'properties', 'additionalProperties', 'required']);

const DIALECT_2020 = new Set(['https://json-schema.org/draft/2020-12/schema', 'https://json-schema.org/draft/2020-12/schema#']);
const DIALECT_07 = new Set(['http://json-schema.org/draft-07/schema', 'http://json-schema.org/draft-07/schema#', 'http://json-schema.org/draft-06/schema', 'http://json-schema.org/draft-06/schema#']);

const OPTIONS = { strict: false, allErrors: false, $data: false, addUsedSchema: false, validateFormats: true, logger: false, code: { regExp: safeRegExp } } as const;

let instances: { a2020?: Ajv; a07?: Ajv; compiles: number } = { compiles: 0 };
const bySchema = new WeakMap<object, CompiledSchema>();
const byHash = new Map<string, CompiledSchema>();

function ajvFor(dialect: '2020' | '07'): Ajv {
  if (instances.compiles >= COMPILES_PER_INSTANCE) instances = { compiles: 0 };
  instances.compiles++;
  if (dialect === '2020') {
    if (!instances.a2020) {
      instances.a2020 = new Ajv2020(OPTIONS) as unknown as Ajv;
      addFormats(instances.a2020);
    }
    return instances.a2020;
  }
  if (!instances.a07) {
    const a = new Ajv(OPTIONS);
    addFormats(a);
    // draft-06 differs from draft-07 only in keywords ajv treats the same way.
    a.addMetaSchema({ ...(a.getSchema('http://json-schema.org/draft-07/schema')?.schema as object), $id: 'http://json-schema.org/draft-06/schema' });
    instances.a07 = a;
  }
  return instances.a07;
}

/**
 * Canonical JSON (sorted keys) of a schema, or an error when it is too big or too deep. Bounded
 * before ajv sees it, so a hostile schema cannot make compilation hang.
 */
function canonical(schema: unknown): string {
  let bytes = 0; // keys and scalars seen so far: stops a huge schema before it is all encoded
  const tooBig = (): Error => new Error(`schema larger than ${MAX_SCHEMA_BYTES} bytes`);
  const enc = (v: unknown, depth: number): string => {
    if (depth > MAX_SCHEMA_DEPTH) throw new Error(`schema nested deeper than ${MAX_SCHEMA_DEPTH}`);
    if (Array.isArray(v)) {
      if ((bytes += v.length) > MAX_SCHEMA_BYTES) throw tooBig();
      return `[${v.map((x) => enc(x, depth + 1)).join(',')}]`;
    }
    if (isObject(v)) {
      const keys = Object.keys(v).sort();
      return `{${keys
        .map((k) => {
          if ((bytes += k.length + 2) > MAX_SCHEMA_BYTES) throw tooBig();
          return `${JSON.stringify(k)}:${enc(v[k], depth + 1)}`;
        })
        .join(',')}}`;
    }
    const out = JSON.stringify(v) ?? 'null';
    if ((bytes += out.length) > MAX_SCHEMA_BYTES) throw tooBig();
    return out;
  };
  const s = enc(schema, 0);
  if (s.length > MAX_SCHEMA_BYTES) throw new Error(`schema larger than ${MAX_SCHEMA_BYTES} bytes`);
  return s;
}

function isTrivial(schema: Record<string, unknown>): boolean {
  for (const k in schema) if (!TRIVIAL_KEYS.has(k)) return false;
  if (schema.type !== undefined && schema.type !== 'object') return false;
  const props = schema.properties;
  if (props !== undefined && !(isObject(props) && Object.keys(props).length === 0)) return false;
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== true) return false;
  const req = schema.required;
  return req === undefined || (Array.isArray(req) && req.length === 0);
}

/** Compiles a schema, or finds an identical one by hash. */
function compileFresh(schema: unknown): CompiledSchema {
  if (!isObject(schema)) return { kind: 'broken', reason: 'inputSchema is missing or not an object', reported: false };
  const t = schema.type;
  if (t !== undefined && t !== 'object' && !(Array.isArray(t) && t.includes('object'))) return { kind: 'broken', reason: 'inputSchema type must be "object"', reported: false };
  let key: string;
  try {
    key = createHash('sha256').update(canonical(schema)).digest('base64url');
  } catch (e) {
    return { kind: 'broken', reason: e instanceof Error ? e.message : 'unreadable schema', reported: false };
  }
  const hit = byHash.get(key);
  if (hit) {
    byHash.delete(key); // refresh its place in the LRU order
    byHash.set(key, hit);
    return hit;
  }
  let compiled: CompiledSchema;
  const declared = schema.$schema;
  if (isTrivial(schema) && (declared === undefined || DIALECT_2020.has(String(declared)) || DIALECT_07.has(String(declared)))) {
    compiled = TRIVIAL;
  } else if (declared !== undefined && !DIALECT_2020.has(String(declared)) && !DIALECT_07.has(String(declared))) {
    compiled = { kind: 'broken', reason: `unsupported JSON Schema dialect ${String(declared).slice(0, 100)}`, reported: false };
  } else {
    const ajv = ajvFor(declared !== undefined && DIALECT_07.has(String(declared)) ? '07' : '2020');
    // No removeSchema() afterwards: it also deletes by the schema's `$id`, so a schema claiming the
    // meta-schema's `$id` would unregister the meta-schema. Retiring instances bounds the memory.
    try {
      compiled = { kind: 'ajv', validate: ajv.compile(schema) };
    } catch (e) {
      compiled = { kind: 'broken', reason: (e instanceof Error ? e.message : String(e)).slice(0, 300), reported: false };
    }
  }
  byHash.set(key, compiled);
  if (byHash.size > HASH_CACHE_SIZE) byHash.delete(byHash.keys().next().value!);
  return compiled;
}

/**
 * The compiled contract of a tool's input schema: cached by the schema object (or by `owner`, the
 * tool definition, when the schema is not an object), then by its canonical hash; compiled at
 * most once per distinct schema while it stays in the cache.
 */
export function compiledSchema(schema: unknown, owner?: object): CompiledSchema {
  const obj = isObject(schema) ? schema : owner;
  if (obj) {
    const cached = bySchema.get(obj);
    if (cached) return cached;
  }
  const compiled = compileFresh(schema);
  if (obj) bySchema.set(obj, compiled);
  return compiled;
}

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 3)}...` : s);

function publicError(e: ErrorObject): ArgumentError {
  return { instancePath: clip(e.instancePath, 256), keyword: clip(e.keyword, 64), message: clip(e.message ?? 'is invalid', 200) };
}

/**
 * Validates `args` (missing: `{}`) against a compiled schema. Throws ERR_ARGUMENT_INVALID (data:
 * tool, errors[≤1]) for invalid arguments and ERR_UPSTREAM_PROTOCOL for a tool whose schema the
 * gateway refused. Returns the arguments as validated.
 */
export function validateArguments(c: CompiledSchema, tool: string, args: unknown): Record<string, unknown> {
  const value = args === undefined ? EMPTY_ARGS : args;
  if (!isObject(value)) throw invalid(tool, { instancePath: '', keyword: 'type', message: 'arguments must be an object' });
  if (c.kind === 'trivial') return value;
  if (c.kind === 'broken') {
    throw new GatewayError('ERR_UPSTREAM_PROTOCOL', `Tool ${clip(tool, 128)} has an input schema the gateway refuses (${clip(c.reason, 200)}); calls to it are refused`, {
      data: { tool: clip(tool, 128), reason: clip(c.reason, 300) },
    });
  }
  if (c.validate(value)) return value;
  const first = c.validate.errors?.[0];
  throw invalid(tool, first ? publicError(first) : { instancePath: '', keyword: 'schema', message: 'is invalid' });
}

function invalid(tool: string, e: ArgumentError): GatewayError {
  const where = e.instancePath === '' ? 'arguments' : `argument ${e.instancePath}`;
  return new GatewayError('ERR_ARGUMENT_INVALID', `Invalid arguments for tool ${clip(tool, 128)}: ${where} ${e.message}`, { data: { tool: clip(tool, 128), errors: [e] } });
}
