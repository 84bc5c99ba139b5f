/**
 * The aggregated catalogue: every healthy upstream's tools, prompts, resources and templates
 * under deterministic client-valid names (mcp-protocol.md §15). Immutable: a change upstream
 * builds a new Catalog with a higher version, and calls keep the one they started with.
 *
 * Tool and prompt names are assigned per tenant, from the upstreams that tenant can see only
 * (docs/tenants.md, "Names"), in three layers, each named around the ones before it:
 * 1. upstreams shared with every tenant (`shareWith: ["*"]`): the same names for everyone;
 * 2. upstreams shared explicitly (`shareWith: [t, …]`) that the tenant owns or is named in;
 * 3. the tenant's private upstreams.
 * A later layer's name that meets an earlier layer's takes the suffix. So an upstream never
 * changes a name seen by a tenant that cannot see it, and a shared upstream's names do not
 * depend on the private upstreams of the tenants it is shared with.
 */
import { assignNames } from '../mcp/naming.js';
import type { Def, UpstreamLists } from './fetch.js';

export interface NamedEntry {
  upstream: string;
  original: string;
  exposed: string;
  /** The definition as clients see it (exposed name). */
  def: Def;
  /** Set on a view's entry when a virtual server's rename applied to it: its name in the catalogue. */
  catalogName?: string;
}

export interface ResourceEntry {
  upstream: string;
  uri: string;
  def: Def;
}

export interface TemplateEntry {
  upstream: string;
  uriTemplate: string;
  /** Literal text before the first expression: routing is by longest literal prefix. */
  literalPrefix: string;
  def: Def;
}

export interface UpstreamPart {
  name: string;
  prefix: string;
  tags: readonly string[];
  /** The owning tenant and the tenants it is shared with ('*': all). */
  tenant: string;
  shareWith: ReadonlySet<string>;
  lists: UpstreamLists;
  capabilities: Record<string, unknown>;
}

export interface UpstreamMeta {
  capabilities: Record<string, unknown>;
  tags: readonly string[];
  tenant: string;
  shareWith: ReadonlySet<string>;
}

/** True when principals of `tenant` may see and call this upstream. */
export function usableBy(meta: UpstreamMeta | undefined, tenant: string): boolean {
  return meta !== undefined && (meta.tenant === tenant || meta.shareWith.has('*') || meta.shareWith.has(tenant));
}

export interface Collision {
  kind: 'tool' | 'prompt' | 'resource';
  /** Tools and prompts: the tenant whose names collided ('*': every tenant, upstreams shared with all). */
  tenant?: string;
  exposed: string;
  upstreams: string[];
  resolvedTo: string[];
}

/** One tenant's tools and prompts under the names that tenant sees. */
export interface NamedLists {
  readonly tools: readonly NamedEntry[];
  readonly prompts: readonly NamedEntry[];
}

export class Catalog {
  readonly resources: readonly ResourceEntry[];
  readonly templates: readonly TemplateEntry[];
  readonly collisions: readonly Collision[];
  /** Upstream name → its declared capabilities, tags and tenancy (healthy upstreams only). */
  readonly upstreams: ReadonlyMap<string, UpstreamMeta>;
  /** Per-view cache, filled lazily by view.ts. */
  readonly views = new Map<string, unknown>();
  /** Names per tenant that owns an upstream or has one shared explicitly. */
  readonly #byTenant = new Map<string, NamedLists>();
  /** Names for every other tenant: those see only the upstreams shared with all. */
  readonly #everyone: NamedLists;

  private constructor(
    readonly version: number,
    parts: readonly UpstreamPart[],
    separator: string,
  ) {
    const collisions: Collision[] = [];
    const toAll = parts.filter((p) => p.shareWith.has('*'));
    const tenants = new Set<string>();
    for (const p of parts) {
      if (p.shareWith.has('*')) continue;
      tenants.add(p.tenant);
      for (const t of p.shareWith) tenants.add(t);
    }
    const tools = new Namer('tool', (p) => p.lists.tools, separator, toAll, collisions);
    const prompts = new Namer('prompt', (p) => p.lists.prompts, separator, toAll, collisions);
    this.#everyone = { tools: tools.entries(toAll, tools.global), prompts: prompts.entries(toAll, prompts.global) };
    for (const t of [...tenants].sort()) {
      const visible = parts.filter((p) => usableBy(p, t));
      const shared = visible.filter((p) => p.shareWith.size > 0 && !p.shareWith.has('*'));
      const own = visible.filter((p) => p.shareWith.size === 0);
      this.#byTenant.set(t, {
        tools: tools.entries(visible, tools.forTenant(t, shared, own)),
        prompts: prompts.entries(visible, prompts.forTenant(t, shared, own)),
      });
    }
    const resources: ResourceEntry[] = [];
    const byUri = new Map<string, string>();
    for (const p of parts) {
      for (const def of p.lists.resources) {
        const uri = def.uri;
        if (typeof uri !== 'string') continue;
        const first = byUri.get(uri);
        if (first !== undefined) {
          // URIs cannot be renamed: where both upstreams are visible, the first in config order
          // keeps it (reported). Both stay here, because two tenants may each see only their own.
          collisions.push({ kind: 'resource', exposed: uri, upstreams: [first, p.name], resolvedTo: [first] });
        } else byUri.set(uri, p.name);
        resources.push({ upstream: p.name, uri, def });
      }
    }
    this.resources = resources;
    const templates: TemplateEntry[] = [];
    for (const p of parts) {
      for (const def of p.lists.templates) {
        const t = def.uriTemplate;
        if (typeof t !== 'string') continue;
        const brace = t.indexOf('{');
        templates.push({ upstream: p.name, uriTemplate: t, literalPrefix: brace < 0 ? t : t.slice(0, brace), def });
      }
    }
    this.templates = templates;
    this.collisions = collisions;
    this.upstreams = new Map(parts.map((p) => [p.name, { capabilities: p.capabilities, tags: p.tags, tenant: p.tenant, shareWith: p.shareWith }]));
  }

  /** The tools and prompts `tenant` can see, in config order, under the names it sees. */
  named(tenant: string): NamedLists {
    return this.#byTenant.get(tenant) ?? this.#everyone;
  }

  static build(version: number, parts: readonly UpstreamPart[], separator: string): Catalog {
    return new Catalog(version, parts, separator);
  }

  static empty(): Catalog {
    return new Catalog(0, [], '__');
  }
}

/** Names in a layer: entry key → exposed name, and exposed name → the upstream holding it. */
interface Layered {
  names: Map<string, string>;
  owners: Map<string, string>;
}

/** Names one kind (tools or prompts) layer by layer; see the module comment. */
class Namer {
  /** Layer 1, the same for every tenant. */
  readonly global: Layered = { names: new Map(), owners: new Map() };
  /** Entries already made, by key and exposed name: shared between tenants that see the same name. */
  readonly #made = new Map<string, NamedEntry>();

  constructor(
    private readonly kind: 'tool' | 'prompt',
    private readonly pick: (p: UpstreamPart) => Def[],
    private readonly separator: string,
    toAll: readonly UpstreamPart[],
    private readonly collisions: Collision[],
  ) {
    this.#layer(toAll, this.global, '*');
  }

  /** Layers 2 and 3 for `tenant`, around layer 1. */
  forTenant(tenant: string, shared: readonly UpstreamPart[], own: readonly UpstreamPart[]): Layered {
    const out: Layered = { names: new Map(this.global.names), owners: new Map(this.global.owners) };
    this.#layer(shared, out, tenant);
    this.#layer(own, out, tenant);
    return out;
  }

  /** The entries of `parts` (config order, then list order) under the names in `named`. */
  entries(parts: readonly UpstreamPart[], named: Layered): NamedEntry[] {
    const out: NamedEntry[] = [];
    for (const p of parts) {
      for (const def of this.pick(p)) {
        if (typeof def.name !== 'string') continue;
        const key = `${p.name}\u0000${def.name}`;
        const exposed = named.names.get(key);
        if (exposed === undefined) continue;
        const id = `${key}\u0000${exposed}`;
        let e = this.#made.get(id);
        if (e === undefined) {
          e = { upstream: p.name, original: def.name, exposed, def: { ...def, name: exposed } };
          this.#made.set(id, e);
        }
        out.push(e);
      }
    }
    return out;
  }

  /** Names `parts` around the names `into` already holds, and adds them there. */
  #layer(parts: readonly UpstreamPart[], into: Layered, tenant: string): void {
    const raw: { key: string; prefix: string; original: string }[] = [];
    const upstreamOf = new Map<string, string>();
    for (const p of parts) {
      for (const def of this.pick(p)) {
        if (typeof def.name !== 'string') continue;
        const key = `${p.name}\u0000${def.name}`;
        raw.push({ key, prefix: p.prefix, original: def.name });
        upstreamOf.set(key, p.name);
      }
    }
    if (raw.length === 0) return;
    const { names, collisions } = assignNames(raw, this.separator, new Set(into.owners.keys()));
    for (const c of collisions) {
      // A name an earlier layer holds: that upstream keeps it, and is reported first.
      const holder = into.owners.get(c.exposed);
      const upstreams = c.keys.map((k) => upstreamOf.get(k) ?? '?');
      this.collisions.push({
        kind: this.kind,
        tenant,
        exposed: c.exposed,
        upstreams: holder === undefined ? upstreams : [holder, ...upstreams],
        resolvedTo: holder === undefined ? c.resolvedTo : [c.exposed, ...c.resolvedTo],
      });
    }
    for (const [key, exposed] of names) {
      into.names.set(key, exposed);
      into.owners.set(exposed, upstreamOf.get(key) ?? '?');
    }
  }
}
