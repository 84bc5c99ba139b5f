/**
 * Compiles a parsed config into the immutable `Snapshot` the gateway runs on: units parsed into
 * numbers, paths made absolute, name globs compiled, defaults resolved, and the cross-entry rules
 * the schema cannot express (unique names and prefixes, known upstreams) checked.
 */
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Config, SseUpstreamConfig, StdioUpstreamConfig, StreamableHttpUpstreamConfig, UpstreamConfig } from './schema.js';
import { compileGlob, type GlobMatcher } from './glob.js';
import { parseByteSize, parseDuration } from './units.js';
import { compileAuth, type CompiledAuth } from '../auth/compile.js';
import type { UpstreamAuth } from '../auth/upstream/config.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { compileRateLimits, type CompiledRateLimits } from '../stages/rate-limit/compile.js';
import { compileAudit, type CompiledAudit } from '../audit/config.js';
import { compileOverload, compileResilience, type CompiledOverload, type CompiledResilience } from '../upstreams/resilience/compile.js';
import { compileObservability, type CompiledObservability } from '../observability/config.js';

/** One problem in a config file, located by YAML path and (when known) 1-based line. */
export interface ConfigIssue {
  path: string;
  line?: number;
  message: string;
}

/** A config that cannot be used. `message` holds one formatted line per issue. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], opts?: { cause?: unknown }) {
    super(issues.map(formatIssue).join('\n'), opts);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `upstreams[2].command: required (line 14)`. */
export function formatIssue(i: ConfigIssue): string {
  return `${i.path}: ${i.message}${i.line !== undefined ? ` (line ${i.line})` : ''}`;
}

/** A path inside the YAML document, as keys and sequence indexes. */
export type PathSegments = readonly (string | number)[];

/** `['upstreams', 2, 'command']` → `upstreams[2].command`; odd keys are quoted: `env["A.B"]`. */
export function formatPath(path: PathSegments): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(root)' : out;
}

export interface Timeouts {
  connectMs: number;
  firstByteMs: number;
  totalMs: number;
}

interface CompiledUpstreamBase {
  name: string;
  /** Resolved prefix: the upstream name unless configured ('' means no prefix). */
  prefix: string;
  tags: readonly string[];
  timeouts: Timeouts;
  resilience: CompiledResilience;
  /** The owning tenant. */
  tenant: string;
  /** Other tenants that may use it; '*' means every tenant. */
  shareWith: ReadonlySet<string>;
  /** sha256 hex of the canonical JSON of the config entry; differs exactly when the entry changed. */
  fingerprint: string;
  /**
   * sha256 hex of the entry without its IN_PLACE_FIELDS: everything that spawns, connects or
   * authenticates the link, or decides whose state it holds. A reload that changes it replaces
   * the upstream (a new process or connection); see `upstreamChange`.
   */
  connectionFingerprint: string;
  /** sha256 hex of each in-place field, so a reload can tell (and log) which of them changed. */
  settingFingerprints: Readonly<Record<InPlaceField, string>>;
}

export type Sharing = 'shared' | 'per-principal' | 'per-session';

export interface CompiledStdioUpstream extends CompiledUpstreamBase {
  kind: 'stdio';
  /** A bare name (looked up on PATH) or an absolute path. */
  command: string;
  args: readonly string[];
  /** Absolute working directory. */
  cwd: string;
  env: Readonly<Record<string, string>>;
  envAllowlist: readonly string[];
  sharing: Sharing;
  restart: { initialDelayMs: number; maxDelayMs: number; maxRestarts: number; windowMs: number };
  /** 0: never. */
  idleTimeoutMs: number;
  /** 0: never. */
  maxLifetimeMs: number;
  maxLineBytes: number;
}

export interface CompiledStreamableHttpUpstream extends CompiledUpstreamBase {
  kind: 'streamable-http';
  url: string;
  era: 'auto' | 'legacy' | 'modern';
  headers: Readonly<Record<string, string>>;
  sharing: Sharing;
  /** Credentials the gateway presents upstream (resolved per request by src/auth/upstream). */
  auth?: UpstreamAuth;
}

export interface CompiledSseUpstream extends CompiledUpstreamBase {
  kind: 'sse';
  url: string;
  headers: Readonly<Record<string, string>>;
  sharing: Sharing;
  auth?: UpstreamAuth;
}

export type CompiledUpstream = CompiledStdioUpstream | CompiledStreamableHttpUpstream | CompiledSseUpstream;

/** One selector of a virtual server; an absent matcher means "all names". */
export interface CompiledSelector {
  upstream?: string;
  tools?: GlobMatcher;
  prompts?: GlobMatcher;
  resources: boolean;
  tags?: readonly string[];
}

export interface CompiledVirtualServer {
  name: string;
  description?: string;
  eras: 'both' | 'legacy' | 'modern';
  /** The owning tenant: other tenants' principals get 404 from this endpoint. */
  tenant: string;
  rename: ReadonlyMap<string, string>;
  descriptions: ReadonlyMap<string, string>;
  include: readonly CompiledSelector[];
}

export interface Snapshot {
  version: number;
  configPath: string;
  configDir: string;
  /** The parsed, interpolated config with defaults applied. */
  config: Config;
  logLevel: string;
  gateway: {
    host: string;
    port: number;
    publicUrl?: string;
    allowedOrigins: ReadonlySet<string>;
    allowedHosts: ReadonlySet<string>;
    /** Absolute, resolved against configDir. */
    dataDir: string;
    storage: 'sqlite' | 'memory';
    separator: string;
    pageSize: number;
    limits: { maxBodyBytes: number; maxHeaderBytes: number; headersTimeoutMs: number; maxJsonDepth: number; maxUpstreamMessageBytes: number };
    sessions: { idleTtlMs: number; max: number; resumeBufferEvents: number };
    shutdownGraceMs: number;
    overload: CompiledOverload;
  };
  /** How the front door authenticates callers. */
  auth: CompiledAuth;
  /** Enabled upstreams only, in file order. */
  upstreams: readonly CompiledUpstream[];
  virtualServers: readonly CompiledVirtualServer[];
  /** Tool-level authorization rules. */
  policy: CompiledPolicy;
  rateLimits: CompiledRateLimits;
  /** The audit log (docs/audit.md). */
  audit: CompiledAudit;
  /** Metrics and traces (read at start). */
  observability: CompiledObservability;
}

export interface CompileMeta {
  /** The config file path (made absolute). */
  path: string;
  version: number;
  /** Finds the 1-based line of a YAML path, so semantic issues carry lines like schema issues. */
  lineOf?: (path: PathSegments) => number | undefined;
}

/** Virtual-server names that would collide with the gateway's own routes. */
// `default` is the view name of the front door /mcp (catalog/view.ts DEFAULT_VIEW): a virtual server
// of that name would share its views, caches and resource URL.
const RESERVED_SERVER_NAMES = new Set(['mcp', 'default']);

/**
 * Compiles a schema-valid config. Binding `gateway.host` to a non-loopback address without
 * `auth` is refused (an open gateway on the network must be asked for with `auth: none`).
 * @throws ConfigError listing every semantic problem found.
 */
export function compile(config: Config, meta: CompileMeta): Snapshot {
  const configPath = resolve(meta.path);
  const configDir = dirname(configPath);
  const issues: ConfigIssue[] = [];
  const issue = (path: PathSegments, message: string): void => {
    const line = meta.lineOf?.(path);
    issues.push(line === undefined ? { path: formatPath(path), message } : { path: formatPath(path), line, message });
  };

  const names = new Map<string, number>();
  const prefixes = new Map<string, number>();
  const upstreams: CompiledUpstream[] = [];
  config.upstreams.forEach((u, i) => {
    const first = names.get(u.name);
    if (first !== undefined) issue(['upstreams', i, 'name'], `duplicate upstream name "${u.name}" (also upstreams[${first}])`);
    else names.set(u.name, i);
    if (u.kind === 'openapi') {
      issue(['upstreams', i, 'kind'], 'the openapi adapter is not available yet (reserved for a later release)');
      return;
    }
    if (!u.enabled) return;
    if ((u.kind === 'streamable-http' || u.kind === 'sse') && u.auth?.type === 'oauth' && u.auth.identity === 'user' && u.sharing !== 'per-principal') {
      // Each caller's token travels on that caller's own link.
      issue(['upstreams', i, 'sharing'], 'auth.identity: user needs sharing: per-principal');
    }
    if ((u.kind === 'streamable-http' || u.kind === 'sse') && u.auth?.type === 'token-exchange' && u.sharing !== 'per-principal') {
      // Each caller's exchanged token travels on that caller's own link.
      issue(['upstreams', i, 'sharing'], 'auth.type: token-exchange needs sharing: per-principal');
    }
    // Disabled entries expose nothing, so only enabled ones compete for a prefix.
    const prefix = u.prefix ?? u.name;
    const owner = prefixes.get(prefix);
    if (owner !== undefined) {
      const what = prefix === '' ? 'empty prefix used more than once' : `duplicate prefix "${prefix}"`;
      issue(['upstreams', i, u.prefix === undefined ? 'name' : 'prefix'], `${what} (also upstreams[${owner}])`);
    } else prefixes.set(prefix, i);
    upstreams.push(compileUpstream(u, prefix, configDir));
  });

  const vsNames = new Map<string, number>();
  const virtualServers: CompiledVirtualServer[] = [];
  config.virtualServers.forEach((vs, i) => {
    if (RESERVED_SERVER_NAMES.has(vs.name)) issue(['virtualServers', i, 'name'], `"${vs.name}" is reserved`);
    const first = vsNames.get(vs.name);
    if (first !== undefined) issue(['virtualServers', i, 'name'], `duplicate virtual server name "${vs.name}" (also virtualServers[${first}])`);
    else vsNames.set(vs.name, i);
    vs.include.forEach((sel, j) => {
      if (sel.upstream !== undefined && !names.has(sel.upstream)) {
        issue(['virtualServers', i, 'include', j, 'upstream'], `unknown upstream "${sel.upstream}"`);
        return;
      }
      const u = sel.upstream === undefined ? undefined : config.upstreams.find((x) => x.name === sel.upstream);
      if (u && u.tenant !== vs.tenant && !u.shareWith.includes('*') && !u.shareWith.includes(vs.tenant)) {
        issue(['virtualServers', i, 'include', j, 'upstream'], `upstream "${u.name}" belongs to tenant "${u.tenant}" and is not shared with "${vs.tenant}"`);
      }
    });
    virtualServers.push(compileVirtualServer(vs));
  });

  const auth = compileAuth(config.auth, config.gateway.host, config.gateway.publicUrl, issue);
  const policy = compilePolicy(config.policy, issue);
  const rateLimits = compileRateLimits(config.rateLimits, issue);

  if (issues.length > 0) throw new ConfigError(issues);

  const g = config.gateway;
  const snapshot: Snapshot = {
    version: meta.version,
    configPath,
    configDir,
    config,
    logLevel: config.log.level,
    gateway: {
      host: g.host,
      port: g.port,
      ...(g.publicUrl !== undefined ? { publicUrl: g.publicUrl } : {}),
      allowedOrigins: new Set(g.allowedOrigins),
      allowedHosts: new Set(g.allowedHosts),
      dataDir: resolve(configDir, g.dataDir),
      storage: g.storage,
      separator: g.separator,
      pageSize: g.pageSize,
      limits: {
        maxBodyBytes: parseByteSize(g.limits.maxBodyBytes),
        maxHeaderBytes: parseByteSize(g.limits.maxHeaderBytes),
        headersTimeoutMs: parseDuration(g.limits.headersTimeout),
        maxJsonDepth: g.limits.maxJsonDepth,
        maxUpstreamMessageBytes: parseByteSize(g.limits.maxUpstreamMessageBytes),
      },
      sessions: {
        idleTtlMs: parseDuration(g.sessions.idleTtl),
        max: g.sessions.max,
        resumeBufferEvents: g.sessions.resumeBufferEvents,
      },
      shutdownGraceMs: parseDuration(g.shutdownGrace),
      overload: compileOverload(g.overload),
    },
    auth,
    upstreams,
    virtualServers,
    policy,
    rateLimits,
    audit: compileAudit(config.audit, configDir, resolve(configDir, g.dataDir)),
    observability: compileObservability(config.observability),
  };
  return deepFreeze(snapshot);
}

function compileUpstream(
  u: StdioUpstreamConfig | StreamableHttpUpstreamConfig | SseUpstreamConfig,
  prefix: string,
  configDir: string,
): CompiledUpstream {
  const base = {
    name: u.name,
    prefix,
    tags: [...u.tags],
    timeouts: {
      connectMs: parseDuration(u.timeouts.connect),
      firstByteMs: parseDuration(u.timeouts.firstByte),
      totalMs: parseDuration(u.timeouts.total),
    },
    resilience: compileResilience(u.resilience),
    tenant: u.tenant,
    shareWith: new Set(u.shareWith),
    ...fingerprints(u),
  };
  switch (u.kind) {
    case 'stdio':
      return {
        ...base,
        kind: 'stdio',
        command: resolveCommand(u.command, configDir),
        args: [...u.args],
        cwd: resolve(configDir, u.cwd ?? '.'),
        env: { ...u.env },
        envAllowlist: [...u.envAllowlist],
        sharing: u.sharing,
        restart: {
          initialDelayMs: parseDuration(u.restart.initialDelay),
          maxDelayMs: parseDuration(u.restart.maxDelay),
          maxRestarts: u.restart.maxRestarts,
          windowMs: parseDuration(u.restart.window),
        },
        idleTimeoutMs: parseDuration(u.idleTimeout),
        maxLifetimeMs: parseDuration(u.maxLifetime),
        maxLineBytes: parseByteSize(u.maxLineBytes),
      };
    case 'streamable-http':
      return { ...base, kind: 'streamable-http', url: u.url, era: u.era, headers: { ...u.headers }, sharing: u.sharing, ...(u.auth ? { auth: u.auth } : {}) };
    case 'sse':
      return { ...base, kind: 'sse', url: u.url, headers: { ...u.headers }, sharing: u.sharing, ...(u.auth ? { auth: u.auth } : {}) };
  }
}

/**
 * A command with a path separator names a file, and a relative one means relative to the config
 * file (not to wherever the gateway happened to be started); a bare name is left for PATH lookup.
 */
function resolveCommand(command: string, configDir: string): string {
  if (isAbsolute(command)) return command;
  if (command.includes('/') || command.includes('\\')) return resolve(configDir, command);
  return command;
}

function compileVirtualServer(vs: Config['virtualServers'][number]): CompiledVirtualServer {
  return {
    name: vs.name,
    ...(vs.description !== undefined ? { description: vs.description } : {}),
    eras: vs.eras,
    tenant: vs.tenant,
    rename: new Map(Object.entries(vs.rename)),
    descriptions: new Map(Object.entries(vs.descriptions)),
    include: vs.include.map((sel) => ({
      ...(sel.upstream !== undefined ? { upstream: sel.upstream } : {}),
      ...(sel.tools !== undefined ? { tools: compileGlob(sel.tools) } : {}),
      ...(sel.prompts !== undefined ? { prompts: compileGlob(sel.prompts) } : {}),
      resources: sel.resources,
      ...(sel.tags !== undefined ? { tags: [...sel.tags] } : {}),
    })),
  };
}

/**
 * The fields of an upstream entry that a running upstream takes in place on a reload
 * (`UpstreamManager.update`), without a new process or connection:
 * - `prefix`, `tags`: naming and selection, read from the snapshot at each catalogue rebuild;
 * - `timeouts`: deadlines, read per call (live links get the new values; a connect deadline
 *   bounds the next connection: restart, recycle, a new private link);
 * - `resilience`: retry, breaker, bulkhead and read-cache settings (the guard keeps its state,
 *   the read cache is emptied);
 * - `restart`, `idleTimeout`, `maxLifetime`: the supervisors' policies (timers are re-armed).
 * Every other field — and any field added later unless listed here — replaces the upstream.
 */
export const IN_PLACE_FIELDS = ['prefix', 'tags', 'timeouts', 'resilience', 'restart', 'idleTimeout', 'maxLifetime'] as const;
export type InPlaceField = (typeof IN_PLACE_FIELDS)[number];

const IN_PLACE: ReadonlySet<string> = new Set(IN_PLACE_FIELDS);

const sha256 = (v: unknown): string => createHash('sha256').update(canonicalJson(v)).digest('hex');

/** sha256 over JSON with sorted keys, so key order in the file does not count as a change. */
function fingerprints(u: UpstreamConfig): Pick<CompiledUpstreamBase, 'fingerprint' | 'connectionFingerprint' | 'settingFingerprints'> {
  const connection = Object.fromEntries(Object.entries(u).filter(([k]) => !IN_PLACE.has(k)));
  const settings = Object.fromEntries(IN_PLACE_FIELDS.map((k) => [k, sha256((u as Record<string, unknown>)[k])])) as Record<InPlaceField, string>;
  return { fingerprint: sha256(u), connectionFingerprint: sha256(connection), settingFingerprints: settings };
}

/** What a reload does to a running upstream: keep it, update it in place (naming the fields), or replace it. */
export type UpstreamChange = { action: 'keep' } | { action: 'update'; fields: InPlaceField[] } | { action: 'replace' };

/** Compares a running upstream's config with the same-named entry of a new snapshot. */
export function upstreamChange(running: CompiledUpstream, next: CompiledUpstream): UpstreamChange {
  if (running.name !== next.name || running.connectionFingerprint !== next.connectionFingerprint) return { action: 'replace' };
  if (running.fingerprint === next.fingerprint) return { action: 'keep' };
  const fields = IN_PLACE_FIELDS.filter((k) => running.settingFingerprints[k] !== next.settingFingerprints[k]);
  // Equal parts but a different whole cannot happen; if it ever did, replacing is the safe side.
  return fields.length ? { action: 'update', fields } : { action: 'replace' };
}

/** JSON with object keys sorted recursively. Exported for tests. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * Freezes plain objects and arrays recursively. Maps and Sets are typed read-only instead
 * (freezing does not stop `add`/`set`), and functions (glob matchers) are left alone.
 */
function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return v;
  if (v instanceof Map || v instanceof Set) {
    Object.freeze(v);
    return v;
  }
  Object.freeze(v);
  for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  return v;
}
