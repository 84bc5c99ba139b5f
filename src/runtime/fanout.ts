/**
 * list_changed and resources/updated fan-out: every client hears about changes in its own
 * era and only for what its endpoint shows (a change invisible to a view is not announced).
 * Legacy sessions get notifications on their GET stream; modern clients on their listen streams.
 */
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import type { Announced } from '../catalog/service.js';
import { viewOf, type CatalogView } from '../catalog/view.js';
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
  ) {}

  addListener(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  catalogChanged(next: Catalog, prev: Catalog, announced: Announced): void {
    const endpoints: (CompiledVirtualServer | undefined)[] = [undefined, ...this.virtualServers()];
    for (const vs of endpoints) {
      const a = viewOf(prev, vs);
      const b = viewOf(next, vs);
      for (const kind of ['tools', 'prompts', 'resources'] as const) {
        const said = [...announced].some(([u, kinds]) => kinds.has(kind) && b.upstreams.has(u));
        if (said || signature(a, kind) !== signature(b, kind)) this.announce(b.name, kind);
      }
    }
  }

  private announce(endpoint: string, kind: Kind): void {
    const msg: JsonRpcNotification = { jsonrpc: '2.0', method: `notifications/${kind}/list_changed` };
    for (const s of this.sessions.all()) {
      if (s.endpoint !== endpoint) continue;
      const get = s.streams.get(GET_STREAM);
      if (get?.res) get.send(msg);
    }
    const flag = kind === 'tools' ? 'toolsListChanged' : kind === 'prompts' ? 'promptsListChanged' : 'resourcesListChanged';
    for (const l of this.listeners) if (l.view === endpoint && l.filter[flag]) l.send(msg);
  }

  resourceUpdated(msg: JsonRpcNotification): void {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string') return;
    for (const s of this.sessions.all()) {
      if (!s.subscriptions.has(uri)) continue;
      s.streams.get(GET_STREAM)?.send(msg);
    }
    for (const l of this.listeners) if (l.filter.resourceSubscriptions.has(uri)) l.send(msg);
  }
}
