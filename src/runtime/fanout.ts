/**
 * list_changed and resources/updated fan-out: every client hears about changes in its own
 * era and only for what its endpoint shows (a change invisible to a view is not announced).
 * Legacy sessions get notifications on their GET stream; modern clients on their listen streams.
 */
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import type { Announced } from '../catalog/service.js';
import { DEFAULT_VIEW, viewOf, type CatalogView } from '../catalog/view.js';
import type { CompiledVirtualServer } from '../config/compile.js';
import type { JsonRpcNotification } from '../mcp/jsonrpc.js';
import type { Listener } from '../pipeline/local/listen.js';
import { GET_STREAM } from '../sessions/session.js';
import type { SessionStore } from '../sessions/store.js';

type Kind = 'tools' | 'prompts' | 'resources';

function signature(view: CatalogView, kind: Kind): string {
  const h = createHash('sha256');
  const items = kind === 'tools' ? view.tools.map((t) => t.def) : kind === 'prompts' ? view.prompts.map((p) => p.def) : [...view.resources.map((r) => r.def), ...view.templates.map((t) => t.def)];
  for (const d of items) h.update(JSON.stringify(d)).update('\u0000');
  return h.digest('base64url');
}

export class Fanout {
  readonly listeners = new Set<Listener>();

  constructor(
    private readonly sessions: SessionStore,
    private readonly virtualServers: () => readonly CompiledVirtualServer[],
    /** The current catalogue (CatalogService.current). */
    private readonly catalog: () => Catalog,
  ) {}

  addListener(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  catalogChanged(next: Catalog, prev: Catalog, announced: Announced): void {
    // Views differ per tenant: compare each (endpoint, tenant) pair that has someone listening.
    const audience = new Map<string, Set<string>>();
    const add = (endpoint: string, tenant: string): void => {
      const set = audience.get(endpoint) ?? new Set<string>();
      set.add(tenant);
      audience.set(endpoint, set);
    };
    for (const s of this.sessions.all()) add(s.endpoint, s.principal.tenant);
    for (const l of this.listeners) add(l.view, l.tenant);
    const byName = new Map<string, CompiledVirtualServer>(this.virtualServers().map((v) => [v.name, v]));
    for (const [endpoint, tenants] of audience) {
      const vs = byName.get(endpoint);
      if (vs === undefined && endpoint !== DEFAULT_VIEW) continue;
      for (const tenant of tenants) {
        const a = viewOf(prev, vs, tenant);
        const b = viewOf(next, vs, tenant);
        for (const kind of ['tools', 'prompts', 'resources'] as const) {
          const said = [...announced].some(([u, kinds]) => kinds.has(kind) && b.upstreams.has(u));
          if (said || signature(a, kind) !== signature(b, kind)) this.announce(endpoint, tenant, kind);
        }
      }
    }
  }

  private announce(endpoint: string, tenant: string, kind: Kind): void {
    const msg: JsonRpcNotification = { jsonrpc: '2.0', method: `notifications/${kind}/list_changed` };
    for (const s of this.sessions.all()) {
      if (s.endpoint !== endpoint || s.principal.tenant !== tenant) continue;
      const get = s.streams.get(GET_STREAM);
      if (get?.res) get.send(msg);
    }
    const flag = kind === 'tools' ? 'toolsListChanged' : kind === 'prompts' ? 'promptsListChanged' : 'resourcesListChanged';
    for (const l of this.listeners) if (l.view === endpoint && l.tenant === tenant && l.filter[flag]) l.send(msg);
  }

  /**
   * Policy changed (config reload or an admin-API rule): what a principal may use, and so what
   * its lists show, may differ now. Every open stream of the tenant (all tenants when undefined)
   * hears list_changed for each kind, so clients re-list instead of calling what is now denied.
   */
  policyChanged(tenant: string | undefined): void {
    for (const kind of ['tools', 'prompts', 'resources'] as const) {
      const msg: JsonRpcNotification = { jsonrpc: '2.0', method: `notifications/${kind}/list_changed` };
      for (const s of this.sessions.all()) {
        if (tenant !== undefined && s.principal.tenant !== tenant) continue;
        const get = s.streams.get(GET_STREAM);
        if (get?.res) get.send(msg);
      }
      const flag = kind === 'tools' ? 'toolsListChanged' : kind === 'prompts' ? 'promptsListChanged' : 'resourcesListChanged';
      for (const l of this.listeners) if ((tenant === undefined || l.tenant === tenant) && l.filter[flag]) l.send(msg);
    }
  }

  /**
   * `usable(tenant)` says whether that tenant may see the upstream the update came from. Legacy
   * subscriptions were judged by policy at `resources/subscribe`; a listen stream's URIs were
   * judged when it opened, and each delivery checks again that the endpoint's current view
   * routes the URI and that the listener still admits it.
   */
  resourceUpdated(msg: JsonRpcNotification, usable: (tenant: string) => boolean): void {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string') return;
    for (const s of this.sessions.all()) {
      if (!s.subscriptions.has(uri) || !usable(s.principal.tenant)) continue;
      s.streams.get(GET_STREAM)?.send(msg);
    }
    let byName: Map<string, CompiledVirtualServer> | undefined;
    for (const l of this.listeners) {
      if (!l.filter.resourceSubscriptions.has(uri) || !usable(l.tenant)) continue;
      byName ??= new Map(this.virtualServers().map((v) => [v.name, v]));
      if (this.routes(byName, l, uri) && l.admits(uri)) l.send(msg);
    }
  }

  /** Whether the listener's endpoint, as configured and catalogued now, still routes the URI. */
  private routes(byName: ReadonlyMap<string, CompiledVirtualServer>, l: Listener, uri: string): boolean {
    const vs = byName.get(l.view);
    if (vs === undefined && l.view !== DEFAULT_VIEW) return false;
    return viewOf(this.catalog(), vs, l.tenant).resourceUpstream(uri) !== undefined;
  }
}
