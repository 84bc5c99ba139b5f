/**
 * The aggregated catalogue: every healthy upstream's tools, prompts, resources and templates
 * under deterministic client-valid names (mcp-protocol.md §15). Immutable: a change upstream
 * builds a new Catalog with a higher version, and calls keep the one they started with.
 */
import { assignNames } from '../mcp/naming.js';
import type { Def, UpstreamLists } from './fetch.js';

export interface NamedEntry {
  upstream: string;
  original: string;
  exposed: string;
  /** The definition as clients see it (exposed name). */
  def: Def;
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
  exposed: string;
  upstreams: string[];
  resolvedTo: string[];
}

export class Catalog {
  readonly tools: readonly NamedEntry[];
  readonly prompts: readonly NamedEntry[];
  readonly resources: readonly ResourceEntry[];
  readonly templates: readonly TemplateEntry[];
  readonly collisions: readonly Collision[];
  /** Upstream name → its declared capabilities, tags and tenancy (healthy upstreams only). */
  readonly upstreams: ReadonlyMap<string, UpstreamMeta>;
  /** Per-view cache, filled lazily by view.ts. */
  readonly views = new Map<string, unknown>();

  private constructor(
    readonly version: number,
    parts: readonly UpstreamPart[],
    separator: string,
  ) {
    const collisions: Collision[] = [];
    this.tools = nameAll('tool', parts, (p) => p.lists.tools, separator, collisions);
    this.prompts = nameAll('prompt', parts, (p) => p.lists.prompts, separator, collisions);
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

  static build(version: number, parts: readonly UpstreamPart[], separator: string): Catalog {
    return new Catalog(version, parts, separator);
  }

  static empty(): Catalog {
    return new Catalog(0, [], '__');
  }
}

function nameAll(
  kind: 'tool' | 'prompt',
  parts: readonly UpstreamPart[],
  pick: (p: UpstreamPart) => Def[],
  separator: string,
  collisions: Collision[],
): NamedEntry[] {
  const raw: { key: string; prefix: string; original: string; upstream: string; def: Def }[] = [];
  for (const p of parts) {
    for (const def of pick(p)) {
      if (typeof def.name !== 'string') continue;
      raw.push({ key: `${p.name}\u0000${def.name}`, prefix: p.prefix, original: def.name, upstream: p.name, def });
    }
  }
  const { names, collisions: found } = assignNames(raw, separator);
  const byKey = new Map(raw.map((r) => [r.key, r]));
  for (const c of found) {
    collisions.push({
      kind,
      exposed: c.exposed,
      upstreams: c.keys.map((k) => byKey.get(k)?.upstream ?? '?'),
      resolvedTo: c.resolvedTo,
    });
  }
  const out: NamedEntry[] = [];
  for (const r of raw) {
    const exposed = names.get(r.key);
    if (exposed === undefined) continue;
    out.push({ upstream: r.upstream, original: r.original, exposed, def: { ...r.def, name: exposed } });
  }
  return out;
}
