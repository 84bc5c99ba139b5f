/**
 * Compiles the `rateLimits` section: rates and quotas parsed into numbers, filters into sets and
 * glob matchers, and each rule given an id derived from its own config, so a hot reload that
 * leaves a rule unchanged keeps its buckets (the limiter keys state by that id).
 */
import { createHash } from 'node:crypto';
import { compileGlob, type GlobMatcher } from '../../config/glob.js';
import { parseDuration } from '../../config/units.js';
import { DEFAULT_METHODS, RATE_PATTERN, type RateLimitRuleT, type RateLimitsConfigT } from './config.js';

export type Dimension = 'tenant' | 'principal' | 'server' | 'upstream' | 'tool';

/** A token bucket: `capacity` tokens, refilled at one token per `msPerToken`. */
export interface CompiledRate {
  capacity: number;
  msPerToken: number;
}

/** A fixed-window counter: at most `limit` per window of `windowMs`, windows aligned to the epoch. */
export interface CompiledQuota {
  limit: number;
  windowMs: number;
}

export interface CompiledRule {
  name: string;
  /** Stable across reloads while the rule's config is unchanged. */
  id: string;
  by: readonly Dimension[];
  methods: ReadonlySet<string>;
  tenants?: ReadonlySet<string>;
  servers?: ReadonlySet<string>;
  upstreams?: ReadonlySet<string>;
  tools?: GlobMatcher;
  rate?: CompiledRate;
  quota?: CompiledQuota;
}

export interface CompiledRedis {
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  onUnavailable: 'deny' | 'allow';
}

export interface CompiledRateLimits {
  enabled: boolean;
  store: 'memory' | 'redis';
  redis?: CompiledRedis;
  rules: readonly CompiledRule[];
  /** Weight of a tools/call of this (exposed) tool name: the first matching `costs` glob, else 1. */
  /** The weight of a `tools/call`: the first `costs` glob (file order) matching the exposed name or, for a renamed tool, its catalogue name. */
  cost(tool: string, catalogName?: string): number;
}

type Issue = (path: readonly (string | number)[], message: string) => void;

/** `"100/1m"` → { count: 100, windowMs: 60000 }; undefined when malformed or zero. */
export function parseRate(v: string): { count: number; windowMs: number } | undefined {
  const m = RATE_PATTERN.exec(v.trim());
  if (!m) return undefined;
  const count = Number(m[1]);
  const windowMs = parseDuration(`${m[2] === '' ? '1' : m[2]}${m[3]}`);
  if (count <= 0 || windowMs <= 0) return undefined;
  return { count, windowMs };
}

/** Caches for name lookups stay bounded: tool names come from upstreams, not from config. */
const CACHE_MAX = 4096;

function cached<T>(fn: (name: string) => T): (name: string) => T {
  const memo = new Map<string, T>();
  return (name) => {
    let hit = memo.get(name);
    if (hit === undefined) {
      if (memo.size >= CACHE_MAX) memo.clear();
      hit = fn(name);
      memo.set(name, hit);
    }
    return hit;
  };
}

function ruleId(r: RateLimitRuleT): string {
  const canonical = JSON.stringify([r.name, r.by, r.match.tenants, r.match.servers, r.match.upstreams, r.match.tools, r.match.methods, r.rate, r.burst, r.quota]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function compileRule(r: RateLimitRuleT, i: number, issue: Issue): CompiledRule | undefined {
  const at = ['rateLimits', 'rules', i] as const;
  if (r.rate === undefined && r.quota === undefined) {
    issue([...at], 'a rule needs `rate` or `quota` (or both)');
    return undefined;
  }
  if (r.burst !== undefined && r.rate === undefined) issue([...at, 'burst'], '`burst` needs `rate`');
  if (new Set(r.by).size !== r.by.length) issue([...at, 'by'], 'a dimension is listed twice');
  let rate: CompiledRate | undefined;
  if (r.rate !== undefined) {
    const p = parseRate(r.rate);
    if (!p) issue([...at, 'rate'], 'must be a positive count per positive window, e.g. 100/1m');
    else rate = { capacity: r.burst ?? p.count, msPerToken: p.windowMs / p.count };
  }
  let quota: CompiledQuota | undefined;
  if (r.quota !== undefined) {
    const p = parseRate(r.quota);
    if (!p) issue([...at, 'quota'], 'must be a positive count per positive window, e.g. 10000/1d');
    else quota = { limit: p.count, windowMs: p.windowMs };
  }
  const m = r.match;
  return {
    name: r.name,
    id: ruleId(r),
    by: [...r.by],
    methods: new Set(m.methods ?? DEFAULT_METHODS),
    ...(m.tenants ? { tenants: new Set(m.tenants) } : {}),
    ...(m.servers ? { servers: new Set(m.servers) } : {}),
    ...(m.upstreams ? { upstreams: new Set(m.upstreams) } : {}),
    ...(m.tools ? { tools: cached(compileGlob(m.tools)) } : {}),
    ...(rate ? { rate } : {}),
    ...(quota ? { quota } : {}),
  };
}

function compileCosts(costs: Readonly<Record<string, number>>): (tool: string, catalogName?: string) => number {
  const entries = Object.entries(costs).map(([glob, weight]) => ({ match: compileGlob([glob]), weight }));
  if (entries.length === 0) return () => 1;
  const weigh = (name: string, alt: string | undefined): number => {
    for (const e of entries) if (e.match(name) || (alt !== undefined && e.match(alt))) return e.weight;
    return 1;
  };
  // Renamed tools (a virtual server's rename) are rare: only plain names are memoised.
  const plain = cached((name) => weigh(name, undefined));
  return (tool, catalogName) => (catalogName === undefined ? plain(tool) : weigh(tool, catalogName));
}

/** Semantic checks report YAML paths through `issue`. */
export function compileRateLimits(cfg: RateLimitsConfigT, issue: Issue): CompiledRateLimits {
  const seen = new Map<string, number>();
  const rules: CompiledRule[] = [];
  cfg.rules.forEach((r, i) => {
    const first = seen.get(r.name);
    if (first !== undefined) issue(['rateLimits', 'rules', i, 'name'], `duplicate rule name "${r.name}" (also rateLimits.rules[${first}])`);
    else seen.set(r.name, i);
    const c = compileRule(r, i, issue);
    if (c) rules.push(c);
  });
  if (cfg.store === 'redis' && cfg.redis === undefined) issue(['rateLimits', 'redis'], 'required when store is redis');
  const redis: CompiledRedis | undefined =
    cfg.store === 'redis' && cfg.redis
      ? { url: cfg.redis.url, keyPrefix: cfg.redis.keyPrefix, timeoutMs: Math.max(1, parseDuration(cfg.redis.timeout)), onUnavailable: cfg.redis.onUnavailable }
      : undefined;
  return {
    enabled: rules.length > 0,
    store: cfg.store,
    ...(redis ? { redis } : {}),
    rules,
    cost: compileCosts(cfg.costs),
  };
}
