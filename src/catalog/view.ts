/**
 * A tenant's view of the catalogue through one endpoint: only the upstreams the tenant owns or
 * that are shared with it, then a virtual server's curated subset (by upstream, name glob, tag),
 * renamed and re-described as configured. The default endpoint `/mcp` applies no curation.
 * Views are computed once per (catalogue version, endpoint, tenant) and cached on the catalogue.
 */
import type { CompiledVirtualServer } from '../config/compile.js';
import { usableBy, type Catalog, type NamedEntry, type ResourceEntry, type TemplateEntry } from './catalog.js';
import type { Def } from './fetch.js';

export const DEFAULT_VIEW = 'default';

export interface CatalogView {
  readonly name: string;
  readonly catalogVersion: number;
  readonly description: string | undefined;
  readonly tools: readonly NamedEntry[];
  readonly prompts: readonly NamedEntry[];
  readonly resources: readonly ResourceEntry[];
  readonly templates: readonly TemplateEntry[];
  /** Upstreams visible through this view (for capability aggregation and routing). */
  readonly upstreams: ReadonlySet<string>;
  tool(name: string): NamedEntry | undefined;
  prompt(name: string): NamedEntry | undefined;
  /** The upstream serving a resource URI: exact resource first, then the longest template prefix. */
  resourceUpstream(uri: string): string | undefined;
  /** Aggregated server capabilities this view may advertise. */
  readonly capabilities: Record<string, unknown>;
}

/** Cached views per catalogue: tenants come from credentials, so their number must not grow memory without bound. */
const MAX_CACHED_VIEWS = 4096;

export function viewOf(catalog: Catalog, vs: CompiledVirtualServer | undefined, tenant: string): CatalogView {
  const key = `${vs?.name ?? DEFAULT_VIEW}\u0000${tenant}`;
  const cached = catalog.views.get(key) as CatalogView | undefined;
  if (cached) return cached;
  const v = buildView(catalog, vs, tenant);
  if (catalog.views.size >= MAX_CACHED_VIEWS) catalog.views.clear();
  catalog.views.set(key, v);
  return v;
}

function buildView(catalog: Catalog, vs: CompiledVirtualServer | undefined, tenant: string): CatalogView {
  // Another tenant's upstream is absent from this view: its tools, prompts and URIs are unknown here.
  const mine = (u: string): boolean => usableBy(catalog.upstreams.get(u), tenant);
  const upstreamOk = (u: string): boolean => {
    if (!mine(u)) return false;
    if (!vs) return true;
    const meta = catalog.upstreams.get(u);
    return vs.include.some((s) => (!s.upstream || s.upstream === u) && (!s.tags || s.tags.every((t) => meta?.tags.includes(t))));
  };
  const nameOk = (u: string, exposed: string, which: 'tools' | 'prompts'): boolean => {
    if (!mine(u)) return false;
    if (!vs) return true;
    const meta = catalog.upstreams.get(u);
    return vs.include.some((s) => {
      if (s.upstream && s.upstream !== u) return false;
      if (s.tags && !s.tags.every((t) => meta?.tags.includes(t))) return false;
      const m = s[which];
      return m ? m(exposed) : true;
    });
  };
  const resourcesOk = (u: string): boolean =>
    mine(u) && (!vs || vs.include.some((s) => s.resources && (!s.upstream || s.upstream === u) && (!s.tags || s.tags.every((t) => catalog.upstreams.get(u)?.tags.includes(t)))));

  const curate = (entries: readonly NamedEntry[], which: 'tools' | 'prompts'): NamedEntry[] => {
    const picked = entries.filter((e) => nameOk(e.upstream, e.exposed, which));
    if (!vs || (vs.rename.size === 0 && vs.descriptions.size === 0)) return picked;
    const taken = new Set(picked.map((e) => e.exposed));
    return picked.map((e) => {
      let exposed = e.exposed;
      const to = vs.rename.get(e.exposed);
      // A rename onto a name already exposed would shadow another tool: keep the original name.
      if (to !== undefined && to !== e.exposed && !taken.has(to)) {
        taken.add(to);
        exposed = to;
      }
      const description = vs.descriptions.get(e.exposed) ?? vs.descriptions.get(exposed);
      if (exposed === e.exposed && description === undefined) return e;
      const def: Def = { ...e.def, name: exposed };
      if (description !== undefined) def.description = description;
      // The catalogue name travels with the entry only when the rename applied (policy reads it).
      return exposed === e.exposed ? { ...e, def } : { ...e, exposed, def, catalogName: e.exposed };
    });
  };

  // Names are the tenant's own: no upstream it cannot see took or displaced one (catalog.ts).
  const named = catalog.named(tenant);
  const tools = curate(named.tools, 'tools');
  const prompts = curate(named.prompts, 'prompts');
  // One entry per URI: the first visible upstream in config order keeps a URI two of them publish.
  const resources: ResourceEntry[] = [];
  const seen = new Set<string>();
  for (const r of catalog.resources) {
    if (!resourcesOk(r.upstream) || seen.has(r.uri)) continue;
    seen.add(r.uri);
    resources.push(r);
  }
  const templates = catalog.templates.filter((t) => resourcesOk(t.upstream));
  const upstreams = new Set([...catalog.upstreams.keys()].filter(upstreamOk));
  const toolMap = new Map(tools.map((t) => [t.exposed, t]));
  const promptMap = new Map(prompts.map((p) => [p.exposed, p]));
  const uriMap = new Map(resources.map((r) => [r.uri, r.upstream]));
  const byPrefix = [...templates].sort((a, b) => b.literalPrefix.length - a.literalPrefix.length);
  const resourceUpstreams = [...upstreams].filter((u) => resourcesOk(u) && catalog.upstreams.get(u)?.capabilities.resources);

  let subscribe = false;
  let completions = false;
  for (const u of upstreams) {
    const caps = catalog.upstreams.get(u)?.capabilities ?? {};
    const res = caps.resources as { subscribe?: boolean } | undefined;
    if (res?.subscribe) subscribe = true;
    if (caps.completions) completions = true;
  }
  const capabilities: Record<string, unknown> = {
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { listChanged: true, subscribe },
    logging: {},
  };
  if (completions) capabilities.completions = {};

  return {
    name: vs?.name ?? DEFAULT_VIEW,
    catalogVersion: catalog.version,
    description: vs?.description,
    tools,
    prompts,
    resources,
    templates,
    upstreams,
    capabilities,
    tool: (n) => toolMap.get(n),
    prompt: (n) => promptMap.get(n),
    resourceUpstream(uri) {
      const exact = uriMap.get(uri);
      if (exact !== undefined) return exact;
      for (const t of byPrefix) if (t.literalPrefix.length > 0 && uri.startsWith(t.literalPrefix)) return t.upstream;
      // One resource-capable upstream: it is the only place the URI can live.
      return resourceUpstreams.length === 1 ? resourceUpstreams[0] : undefined;
    },
  };
}
