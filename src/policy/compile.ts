/**
 * Compiles policy rules once per snapshot (config rules) or once per stored-rule change (admin
 * API rules): globs become matchers, lists become sets, and each CEL condition is parsed and
 * type-checked once. Nothing here runs per call.
 */
import { Environment } from '@marcbachmann/cel-js';
import { compileGuards, type CompiledGuards } from '../arguments/compile.js';
import { compileGlob, type GlobMatcher } from '../config/glob.js';
import type { Effect } from './decision.js';
import type { PolicyConfigT, PolicyRuleT } from './config.js';

/** Where a rule came from: the config file, or the admin API (stored per tenant). */
export type RuleSource = 'config' | 'store';

/** A CEL condition, ready to run. */
export interface CompiledWhen {
  readonly run: (activation: Record<string, unknown>) => unknown;
  /** True when the expression mentions `args`; such a rule "could match" when lists are filtered. */
  readonly readsArgs: boolean;
}

/** One rule, ready for the hot path. Absent matchers mean "any". */
export interface CompiledRule {
  readonly id: string;
  readonly source: RuleSource;
  /** Position among all rules (config first, then stored): the order decisions name rules in. */
  readonly order: number;
  readonly effect: Effect;
  readonly shadow: boolean;
  readonly reason: string | undefined;
  readonly tenants: ReadonlySet<string> | undefined;
  readonly roles: readonly string[] | undefined;
  readonly groups: readonly string[] | undefined;
  readonly subjects: GlobMatcher | undefined;
  readonly clients: ReadonlySet<string> | undefined;
  /** Claim name → accepted values (any of). */
  readonly claims: ReadonlyMap<string, readonly (string | number | boolean)[]> | undefined;
  readonly servers: ReadonlySet<string> | undefined;
  readonly upstreams: ReadonlySet<string> | undefined;
  /** Which kinds of target the rule applies to. */
  readonly appliesToTools: boolean;
  readonly appliesToPrompts: boolean;
  readonly appliesToResources: boolean;
  readonly tools: GlobMatcher | undefined;
  readonly prompts: GlobMatcher | undefined;
  readonly resources: GlobMatcher | undefined;
  readonly tags: readonly string[] | undefined;
  readonly annotations: readonly (readonly [string, boolean | string | number])[] | undefined;
  readonly when: CompiledWhen | undefined;
  readonly guards: CompiledGuards | undefined;
}

export interface CompiledPolicy {
  /** False when the config has no `policy` section: no policy stage at all. */
  enabled: boolean;
  /** Config rules in file order. */
  rules: readonly CompiledRule[];
}

type Issue = (path: readonly (string | number)[], message: string) => void;

// One environment for every expression: building it is the expensive part, parsing is cheap.
const env = new Environment({ limits: { maxAstNodes: 1000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 } })
  .registerVariable('args', 'map')
  .registerVariable('principal', 'map')
  .registerVariable('tool', 'map')
  .registerVariable('time', 'google.protobuf.Timestamp');

/**
 * Parses and type-checks one CEL condition. Returns the compiled condition, or an error message
 * (never echoing more of the source than the library's own pointer).
 */
export function compileWhen(source: string): CompiledWhen | string {
  try {
    const checked = env.check(source);
    if (!checked.valid) return firstLine(checked.error?.message ?? 'invalid expression');
    if (checked.type !== 'bool' && checked.type !== 'dyn') return `must be a boolean expression (it is ${checked.type})`;
    const fn = env.parse(source) as unknown as (a: Record<string, unknown>) => unknown;
    return { run: fn, readsArgs: mentionsArgs(source) };
  } catch (e) {
    return firstLine(e instanceof Error ? e.message : String(e));
  }
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.slice(0, 300);
}

/**
 * True when `args` appears as an identifier outside string literals (not as a field `.args`).
 * Over-approximates (a comment-free CEL source has no other place for the word), which is the
 * safe side: see the listing rule in docs/policy.md.
 */
export function mentionsArgs(src: string): boolean {
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '"' || c === "'") {
      const triple = src.startsWith(c.repeat(3), i);
      const end = triple ? c.repeat(3) : c;
      i += end.length;
      while (i < src.length && !src.startsWith(end, i)) i += src[i] === '\\' ? 2 : 1;
      i += end.length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      if (src.slice(i, j) === 'args' && !precededByDot(src, i)) return true;
      i = j;
      continue;
    }
    i++;
  }
  return false;
}

function precededByDot(src: string, i: number): boolean {
  let k = i - 1;
  while (k >= 0 && /\s/.test(src[k]!)) k--;
  return k >= 0 && src[k] === '.';
}

const setOf = (xs: readonly string[] | undefined): ReadonlySet<string> | undefined => (xs ? new Set(xs) : undefined);

/**
 * Compiles one schema-valid rule; problems are reported through `issue` with paths relative to
 * `path` (e.g. `['policy', 'rules', 2]`), and the rule is still returned so all problems surface.
 */
export function compileRule(r: PolicyRuleT, source: RuleSource, order: number, path: readonly (string | number)[], issue: Issue): CompiledRule {
  let when: CompiledWhen | undefined;
  if (r.when !== undefined) {
    const c = compileWhen(r.when);
    if (typeof c === 'string') issue([...path, 'when'], c);
    else when = c;
  }
  const names = r.tools !== undefined || r.prompts !== undefined || r.resources !== undefined;
  return {
    id: r.id,
    source,
    order,
    effect: r.effect,
    shadow: r.mode === 'shadow',
    reason: r.reason,
    tenants: setOf(r.tenants),
    roles: r.roles,
    groups: r.groups,
    subjects: r.subjects ? compileGlob(r.subjects) : undefined,
    clients: setOf(r.clients),
    claims: r.claims ? new Map(Object.entries(r.claims).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])) : undefined,
    servers: setOf(r.servers),
    upstreams: setOf(r.upstreams),
    // A rule that names no target kind is a tool rule: that is what most policies are about.
    appliesToTools: !names || r.tools !== undefined,
    appliesToPrompts: r.prompts !== undefined,
    appliesToResources: r.resources !== undefined,
    tools: r.tools ? compileGlob(r.tools) : undefined,
    prompts: r.prompts ? compileGlob(r.prompts) : undefined,
    resources: r.resources ? compileGlob(r.resources) : undefined,
    tags: r.tags,
    annotations: r.annotations ? Object.entries(r.annotations) : undefined,
    when,
    guards: r.guards ? compileGuards(r.guards) : undefined,
  };
}

/** Compiles the `policy` section; rule ids must be unique within it. */
export function compilePolicy(cfg: PolicyConfigT, issue: Issue): CompiledPolicy {
  if (cfg === undefined) return { enabled: false, rules: [] };
  const seen = new Map<string, number>();
  const rules = cfg.rules.map((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined) issue(['policy', 'rules', i, 'id'], `duplicate rule id "${r.id}" (also policy.rules[${first}])`);
    else seen.set(r.id, i);
    return compileRule(r, 'config', i, ['policy', 'rules', i], issue);
  });
  return { enabled: true, rules };
}
