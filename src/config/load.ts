/**
 * Reads the YAML config into a Snapshot. Every problem comes back as a ConfigError whose issues
 * name the YAML path and line (`upstreams[2].command: required (line 14)`), because the person
 * reading the message is editing that file.
 */
import type { Stats } from 'node:fs';
import { readFileBounded } from '../storage/bounded-read.js';
import { resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema } from './schema.js';
import { ConfigError, compile, formatPath, type ConfigIssue, type PathSegments, type Snapshot } from './compile.js';

export { ConfigError, formatIssue, type ConfigIssue } from './compile.js';

export interface LoadOptions {
  /** Where the text came from; relative paths in the config resolve against its directory. */
  path: string;
  /** Source of `${NAME}` interpolation and of PORTCULLIS_PORT. */
  env: NodeJS.ProcessEnv;
  /** Snapshot version; hot reload passes the previous version + 1. Default 1. */
  version?: number;
}

/**
 * Parses, interpolates, validates and compiles config text.
 * @throws ConfigError with every issue found in the stage that failed (syntax, then
 *   interpolation and schema together, then semantic checks).
 */
export function loadConfigText(text: string, opts: LoadOptions): Snapshot {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line;

  if (doc.errors.length > 0) {
    throw new ConfigError(
      dedupe(doc.errors.map((e) => withLine({ path: '(yaml)', message: e.code === 'MULTIPLE_DOCS' ? MULTIPLE_DOCUMENTS : firstLine(e.message) }, lineAt(e.pos[0])))),
    );
  }

  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (e) {
    // e.g. alias expansion beyond the library's limit (a "billion laughs" document).
    throw new ConfigError([{ path: '(yaml)', message: firstLine(e instanceof Error ? e.message : String(e)) }]);
  }
  // An empty file is a valid config: all defaults, no upstreams.
  if (raw === null || raw === undefined) raw = {};

  const lineOf = (path: PathSegments): number | undefined => locate(doc, path, lineAt);
  const issues: ConfigIssue[] = [];
  const data = interpolate(raw, [], opts.env, (path, message) => issues.push(withLine({ path: formatPath(path), message }, lineOf(path))));
  // A value whose variable is unset is already reported; the schema's view of its '' is noise.
  const unresolved = new Set(issues.map((i) => i.path));

  let parsed = ConfigSchema.safeParse(data);
  // `port: ${PORT}` reads a string from the environment: where the schema wants a number or a
  // boolean and the value came from a variable, the text is converted once and checked again.
  if (!parsed.success && coerceInterpolated(data, raw, parsed.error.issues) > 0) parsed = ConfigSchema.safeParse(data);
  if (!parsed.success) {
    for (const zi of parsed.error.issues) issues.push(...fromZod(zi, data, lineOf).filter((i) => !unresolved.has(i.path)));
  }
  if (issues.length > 0 || !parsed.success) throw new ConfigError(dedupe(issues));

  const config = parsed.data;
  const port = opts.env.PORTCULLIS_PORT;
  if (port !== undefined && port !== '') {
    const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(n >= 0 && n <= 65535)) {
      throw new ConfigError([{ path: 'PORTCULLIS_PORT', message: 'must be an integer from 0 to 65535' }]);
    }
    config.gateway.port = n;
  }

  return compile(config, { path: resolve(opts.path), version: opts.version ?? 1, lineOf });
}

/**
 * Reads and loads a config file.
 * @throws the file system error when the file cannot be read (callers tell that apart from a
 *   ConfigError), ConfigError when its content is not a usable config.
 */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env, version = 1): Snapshot {
  return loadConfigText(readConfigFile(path), { path, env, version });
}

/** Largest config file read: far above any real one, and a bound for a wrong path (/dev/zero, a log). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;


/** The config file's text, read with a bound (a regular file of at most MAX_CONFIG_BYTES). */
export function readConfigFile(path: string, onStat?: (st: Stats) => void): string {
  let buf: Buffer;
  try {
    buf = readFileBounded(path, MAX_CONFIG_BYTES, onStat);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== undefined) throw e;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  if (buf.length > MAX_CONFIG_BYTES) throw new Error(`${path}: larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB`);
  return buf.toString('utf8');
}

/**
 * Said instead of the library's "Source contains multiple documents; please use
 * YAML.parseAllDocuments()", which speaks to a programmer. The line is where the second document
 * starts.
 */
const MULTIPLE_DOCUMENTS = "a config file holds one YAML document, found a second one starting here (a '---' line starts a new document, a '...' line ends one)";

function withLine(i: ConfigIssue, line: number | undefined): ConfigIssue {
  return line === undefined ? i : { ...i, line };
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]?.trim() ?? s;
}

/**
 * The line of the deepest node on `path` that exists. For a map entry that is the key's line
 * (a block value starts on the next line); for a missing key it is the parent's line.
 */
function locate(doc: Document, path: PathSegments, lineAt: (o: number | undefined) => number | undefined): number | undefined {
  let node: unknown = doc.contents;
  let line = lineAt((node as Node | null)?.range?.[0]);
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return line;
      line = lineAt((pair.key as Node | null)?.range?.[0]) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return line;
      line = lineAt(item.range?.[0]) ?? line;
      node = item;
    } else {
      return line;
    }
  }
  return line;
}

// `${NAME}`, `${NAME:-default}`, and `$${...}` for a literal `${...}`. No nested quantifiers, so
// matching is linear in the string length.
const VAR = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces variables in every string value (keys are left alone), reporting unset ones. */
function interpolate(v: unknown, path: (string | number)[], env: NodeJS.ProcessEnv, report: (p: PathSegments, m: string) => void): unknown {
  if (typeof v === 'string') {
    if (!v.includes('${')) return v;
    return v.replace(VAR, (whole, escape: string, name: string, def: string | undefined) => {
      if (escape) return whole.slice(1);
      const value = env[name];
      // Like the shell: `:-` applies when the variable is unset or empty.
      if (def !== undefined && (value === undefined || value === '')) return def;
      if (value === undefined) {
        report(path, `environment variable ${name} is not set (use \${${name}:-default} for a fallback)`);
        return '';
      }
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, [...path, i], env, report));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = interpolate(x, [...path, k], env, report);
    return out;
  }
  return v;
}

/**
 * Converts, in place, each string that interpolation produced where a number or a boolean was
 * expected: `8080`-like text to a number, `true`/`false` to a boolean. Only values whose source
 * held a `${…}` are touched, so a quoted literal stays an error. Returns how many it converted.
 */
function coerceInterpolated(data: unknown, raw: unknown, issues: readonly z.core.$ZodIssue[]): number {
  let n = 0;
  for (const zi of issues) {
    if (zi.code !== 'invalid_type' || (zi.expected !== 'number' && zi.expected !== 'boolean') || zi.path.length === 0) continue;
    const path = zi.path as PathSegments;
    const source = valueAt(raw, path);
    const text = valueAt(data, path);
    if (typeof source !== 'string' || !source.includes('${') || typeof text !== 'string') continue;
    let value: number | boolean | undefined;
    if (zi.expected === 'number' && /^-?\d{1,15}(\.\d{1,15})?$/.test(text.trim())) value = Number(text.trim());
    if (zi.expected === 'boolean' && (text.trim() === 'true' || text.trim() === 'false')) value = text.trim() === 'true';
    if (value === undefined) continue;
    const parent = valueAt(data, path.slice(0, -1));
    if (parent === null || typeof parent !== 'object') continue;
    (parent as Record<string | number, unknown>)[path[path.length - 1] as string | number] = value;
    n += 1;
  }
  return n;
}

function valueAt(data: unknown, path: PathSegments): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** Turns one zod issue into config issues with wording meant for someone editing YAML. */
function fromZod(zi: z.core.$ZodIssue, data: unknown, lineOf: (p: PathSegments) => number | undefined): ConfigIssue[] {
  const path = zi.path.filter((s): s is string | number => typeof s !== 'symbol');
  const at = (p: PathSegments, message: string): ConfigIssue => withLine({ path: formatPath(p), message }, lineOf(p));
  const missing = valueAt(data, path) === undefined;
  switch (zi.code) {
    case 'unrecognized_keys':
      return zi.keys.map((k) => at([...path, k], 'unknown key'));
    case 'invalid_type':
      return [at(path, missing ? 'required' : `expected ${zi.expected}, got ${describe(valueAt(data, path))}`)];
    case 'invalid_union': {
      const options = (zi as { options?: unknown[] }).options;
      if (Array.isArray(options)) {
        const list = options.map(String).join(', ');
        return [at(path, missing ? `required (one of ${list})` : `expected one of ${list}`)];
      }
      return [at(path, missing ? 'required' : cleanMessage(zi.message))];
    }
    default:
      return [at(path, cleanMessage(zi.message))];
  }
}

function cleanMessage(m: string): string {
  return m.replace(/^Invalid input: /, '');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
