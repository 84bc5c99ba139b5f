/**
 * The policy evaluator. One engine per (snapshot, stored-rule version): it indexes the rules by
 * target lazily (per catalogue entry and endpoint, cached on the entry object), so a call walks
 * only the rules that name its tool, and only runs CEL for those whose principal part matches.
 * Evaluation order and the listing rule are documented in docs/policy.md.
 */
import type { CatalogView } from '../catalog/view.js';
import type { NamedEntry } from '../catalog/catalog.js';
import type { Snapshot } from '../config/compile.js';
import type { CompiledGuards } from '../arguments/compile.js';
import type { Principal } from '../pipeline/context.js';
import type { CompiledRule, RuleSource } from './compile.js';
import type { Decision, Effect } from './decision.js';

export type TargetKind = 'tool' | 'prompt' | 'resource';

/** What a rule's target part is matched against, and what CEL sees as `tool`. */
export interface Target {
  readonly kind: TargetKind;
  /** Endpoint name: `default` for /mcp, else the virtual server. */
  readonly server: string;
  readonly upstream: string;
  /** The name as the endpoint exposes it (a URI for resources, a URI template when listing templates). */
  readonly name: string;
  /** The catalogue name (prefix + separator + name) when a virtual server renamed it; else `name`. */
  readonly catalogName: string;
  readonly tags: readonly string[];
  readonly annotations: Readonly<Record<string, unknown>>;
}

/** `ctx.decision` plus what `policy explain` prints. */
export interface Trace {
  rule: string;
  source: RuleSource;
  effect: Effect;
  mode: 'enforce' | 'shadow';
  /** `error` when the condition failed to evaluate (then fail-closed rules match). */
  when?: 'true' | 'false' | 'error' | 'unknown';
}

interface TargetInfo {
  readonly target: Target;
  /** The CEL `tool` value. */
  readonly cel: Readonly<Record<string, unknown>>;
  /** Rules whose target part matches, in order. */
  readonly rules: readonly CompiledRule[];
}

const NO_GUARDS: readonly CompiledGuards[] = Object.freeze([]);
const DEFAULT_REASON = 'No policy rule allows this call';
const EMPTY_ARGS: Readonly<Record<string, unknown>> = Object.freeze({});

/** Immutable rule set plus lazily filled per-target caches. */
export class PolicyEngine {
  readonly #rules: readonly CompiledRule[];
  readonly #byKind: Record<TargetKind, readonly CompiledRule[]>;
  readonly #tags: ReadonlyMap<string, readonly string[]>;
  // Keyed by the catalogue's own entry objects: a new catalogue version drops them all.
  readonly #entries = new WeakMap<NamedEntry, Map<string, TargetInfo>>();
  readonly #principals = new WeakMap<Principal, Readonly<Record<string, unknown>>>();
  readonly #singleAllow = new Map<CompiledRule, Decision>();

  constructor(rules: readonly CompiledRule[], snapshot: Pick<Snapshot, 'upstreams' | 'virtualServers'>) {
    this.#rules = rules;
    this.#byKind = {
      tool: rules.filter((r) => r.appliesToTools),
      prompt: rules.filter((r) => r.appliesToPrompts),
      resource: rules.filter((r) => r.appliesToResources),
    };
    this.#tags = new Map(snapshot.upstreams.map((u) => [u.name, u.tags]));
    for (const r of rules) {
      if (r.effect === 'allow') this.#singleAllow.set(r, Object.freeze({ effect: 'allow', rule: r.id, ...(r.reason ? { reason: r.reason } : {}), guards: r.guards ? Object.freeze([r.guards]) : NO_GUARDS }));
    }
  }

  /** Every rule, config first then stored. */
  get rules(): readonly CompiledRule[] {
    return this.#rules;
  }

  /** Decision for a call to a tool or prompt of `view`. */
  decideEntry(kind: 'tool' | 'prompt', view: CatalogView, entry: NamedEntry, principal: Principal, args: unknown, trace?: Trace[]): Decision {
    return this.#evaluate(this.#entryInfo(kind, view.name, entry), principal, args, false, trace);
  }

  /** True when `entry` belongs in this principal's list (docs/policy.md, "What lists show"). */
  listsEntry(kind: 'tool' | 'prompt', view: CatalogView, entry: NamedEntry, principal: Principal): boolean {
    return this.listDecision(kind, view, entry, principal).effect !== 'deny';
  }

  /** The decision lists are built from: no arguments, `args` conditions count as "could match". */
  listDecision(kind: 'tool' | 'prompt', view: CatalogView, entry: NamedEntry, principal: Principal): Decision {
    return this.#evaluate(this.#entryInfo(kind, view.name, entry), principal, EMPTY_ARGS, true);
  }

  /** Decision for a resource URI (read, subscribe, completion), or for listing a resource or template. */
  decideResource(server: string, upstream: string, uri: string, principal: Principal, args: unknown, forList = false, trace?: Trace[]): Decision {
    return this.#evaluate(this.#info({ kind: 'resource', server, upstream, name: uri, catalogName: uri, tags: this.#tags.get(upstream) ?? [], annotations: EMPTY_ARGS }), principal, args, forList, trace);
  }

  /** Decision for an explicit target (the CLI's `policy explain`). */
  decideTarget(target: Target, principal: Principal, args: unknown, trace?: Trace[]): Decision {
    return this.#evaluate(this.#info(target), principal, args, false, trace);
  }

  #entryInfo(kind: 'tool' | 'prompt', server: string, entry: NamedEntry): TargetInfo {
    let perServer = this.#entries.get(entry);
    if (!perServer) this.#entries.set(entry, (perServer = new Map()));
    const key = kind === 'tool' ? server : `\u0000${server}`;
    let info = perServer.get(key);
    if (!info) {
      const ann = (entry.def as { annotations?: unknown }).annotations;
      info = this.#info({
        kind,
        server,
        upstream: entry.upstream,
        name: entry.exposed,
        // Only a rename that applied sets it (a skipped one leaves another tool under that name).
        catalogName: entry.catalogName ?? entry.exposed,
        tags: this.#tags.get(entry.upstream) ?? [],
        annotations: ann !== null && typeof ann === 'object' && !Array.isArray(ann) ? (ann as Record<string, unknown>) : EMPTY_ARGS,
      });
      perServer.set(key, info);
    }
    return info;
  }

  #info(target: Target): TargetInfo {
    return {
      target,
      cel: Object.freeze({ kind: target.kind, name: target.name, catalogName: target.catalogName, upstream: target.upstream, server: target.server, tags: target.tags, annotations: target.annotations }),
      rules: this.#byKind[target.kind].filter((r) => targetMatches(r, target)),
    };
  }

  #principalCel(p: Principal): Readonly<Record<string, unknown>> {
    let v = this.#principals.get(p);
    if (!v) {
      v = Object.freeze({ subject: p.subject, tenant: p.tenant, roles: p.roles, groups: p.groups, clientId: p.clientId ?? '', authMethod: p.authMethod, claims: p.claims ?? {} });
      this.#principals.set(p, v);
    }
    return v;
  }

  #evaluate(info: TargetInfo, p: Principal, args: unknown, forList: boolean, trace?: Trace[]): Decision {
    let deny: CompiledRule | undefined;
    let approval: CompiledRule | undefined;
    let allow: CompiledRule | undefined;
    let allows = 0;
    let guards: CompiledGuards[] | undefined;
    let shadow: { rule: string; effect: Effect }[] | undefined;
    let activation: Record<string, unknown> | undefined;
    for (const r of info.rules) {
      if (!principalMatches(r, p)) continue;
      if (forList && r.shadow) continue;
      let verdict: Trace['when'];
      if (r.when) {
        if (forList && r.when.readsArgs) {
          // Listing knows no arguments: the rule "could match", which lists for allow rules and never hides for the others.
          verdict = 'unknown';
          if (r.effect !== 'allow') continue;
        } else {
          activation ??= { args: isRecord(args) ? args : EMPTY_ARGS, principal: this.#principalCel(p), tool: info.cel, time: new Date() };
          let out: unknown;
          try {
            out = r.when.run(activation);
          } catch {
            out = undefined;
          }
          verdict = out === true ? 'true' : out === false ? 'false' : 'error';
          // Fail closed: an error never makes an allow rule match, and always makes a restricting rule match.
          if (verdict === 'false' || (verdict === 'error' && r.effect === 'allow')) {
            trace?.push({ rule: r.id, source: r.source, effect: r.effect, mode: r.shadow ? 'shadow' : 'enforce', when: verdict });
            continue;
          }
        }
      }
      trace?.push({ rule: r.id, source: r.source, effect: r.effect, mode: r.shadow ? 'shadow' : 'enforce', ...(verdict ? { when: verdict } : {}) });
      if (r.shadow) {
        (shadow ??= []).push({ rule: r.id, effect: r.effect });
        continue;
      }
      if (r.effect === 'deny') deny ??= r;
      else if (r.effect === 'require_approval') approval ??= r;
      else {
        allow ??= r;
        allows++;
        if (r.guards) (guards ??= []).push(r.guards);
      }
    }
    const decider = deny ?? approval ?? allow;
    if (!decider) return shadow ? { effect: 'deny', reason: DEFAULT_REASON, guards: NO_GUARDS, shadow } : DEFAULT_DENY;
    if (decider === allow && allows === 1 && !shadow) return this.#singleAllow.get(decider)!;
    const d: Decision = { effect: decider.effect, rule: decider.id, guards: decider === allow ? (guards ?? NO_GUARDS) : NO_GUARDS };
    if (decider.reason !== undefined) d.reason = decider.reason;
    if (shadow) d.shadow = shadow;
    return d;
  }
}

const DEFAULT_DENY: Decision = Object.freeze({ effect: 'deny', reason: DEFAULT_REASON, guards: NO_GUARDS });

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function anyOf(want: readonly string[], have: readonly string[]): boolean {
  for (const w of want) if (have.includes(w)) return true;
  return false;
}

/** The principal part of a rule: every given field must match. */
export function principalMatches(r: CompiledRule, p: Principal): boolean {
  return (
    (!r.tenants || r.tenants.has(p.tenant)) &&
    (!r.roles || anyOf(r.roles, p.roles)) &&
    (!r.groups || anyOf(r.groups, p.groups)) &&
    (!r.subjects || r.subjects(p.subject)) &&
    (!r.clients || (p.clientId !== undefined && r.clients.has(p.clientId))) &&
    (!r.claims || claimsMatch(r.claims, p.claims))
  );
}

/** Every named claim matches one of its accepted values (a list claim: contains one of them). */
function claimsMatch(want: ReadonlyMap<string, readonly (string | number | boolean)[]>, have: Principal['claims']): boolean {
  if (!have) return false;
  for (const [k, accepted] of want) {
    const v = Object.hasOwn(have, k) ? have[k] : undefined;
    if (v === undefined) return false;
    if (Array.isArray(v)) {
      if (!accepted.some((a) => typeof a === 'string' && v.includes(a))) return false;
    } else if (!accepted.includes(v as string | number | boolean)) return false;
  }
  return true;
}

/** The target part of a rule: kind, endpoint, upstream, name globs, tags (all of) and annotations (all equal). */
export function targetMatches(r: CompiledRule, t: Target): boolean {
  if (t.kind === 'tool' ? !r.appliesToTools : t.kind === 'prompt' ? !r.appliesToPrompts : !r.appliesToResources) return false;
  if (r.servers && !r.servers.has(t.server)) return false;
  if (r.upstreams && !r.upstreams.has(t.upstream)) return false;
  const names = t.kind === 'tool' ? r.tools : t.kind === 'prompt' ? r.prompts : r.resources;
  if (names && !names(t.name) && (t.catalogName === t.name || !names(t.catalogName))) return false;
  if (r.tags && !r.tags.every((x) => t.tags.includes(x))) return false;
  if (r.annotations) {
    for (const [k, v] of r.annotations) if (t.annotations[k] !== v) return false;
  }
  return true;
}
