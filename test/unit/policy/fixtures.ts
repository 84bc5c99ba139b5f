/** Small in-memory stand-ins for the catalogue view, snapshot and call context the policy code reads. */
import type { CatalogView } from '../../../src/catalog/view.js';
import type { NamedEntry } from '../../../src/catalog/catalog.js';
import type { Snapshot } from '../../../src/config/compile.js';
import { CallCancel, type CallContext, type Principal } from '../../../src/pipeline/context.js';
import { compilePolicy } from '../../../src/policy/compile.js';
import type { PolicyRuleT } from '../../../src/policy/config.js';
import { PolicyRule } from '../../../src/policy/config.js';
import { silentLogger } from '../../../src/observability/logger.js';

export interface ToolSpec {
  upstream: string;
  name: string;
  annotations?: Record<string, unknown>;
}

export function entry(t: ToolSpec): NamedEntry {
  const exposed = `${t.upstream}__${t.name}`;
  return { upstream: t.upstream, original: t.name, exposed, def: { name: exposed, inputSchema: { type: 'object' }, ...(t.annotations ? { annotations: t.annotations } : {}) } };
}

export function view(name: string, tools: readonly NamedEntry[], prompts: readonly NamedEntry[] = []): CatalogView {
  const byName = new Map(tools.map((t) => [t.exposed, t]));
  const byPrompt = new Map(prompts.map((t) => [t.exposed, t]));
  return {
    name,
    catalogVersion: 1,
    description: undefined,
    tools,
    prompts,
    resources: [],
    templates: [],
    upstreams: new Set(tools.map((t) => t.upstream)),
    tool: (n) => byName.get(n),
    prompt: (n) => byPrompt.get(n),
    resourceUpstream: () => undefined,
    capabilities: {},
  };
}

/** Compiles rules (schema defaults applied) into the snapshot fields policy reads; throws on any issue. */
export function snapshotOf(rules: readonly unknown[] | undefined, upstreams: { name: string; tags: string[] }[], renames: Record<string, Record<string, string>> = {}): Snapshot {
  const issues: string[] = [];
  const parsed = rules === undefined ? undefined : { rules: rules.map((r) => PolicyRule.parse(r) as PolicyRuleT) };
  const policy = compilePolicy(parsed, (p, m) => issues.push(`${p.join('.')}: ${m}`));
  if (issues.length) throw new Error(issues.join('\n'));
  return {
    version: 1,
    policy,
    auth: { scopes: [] },
    upstreams: upstreams.map((u) => ({ name: u.name, tags: u.tags, prefix: u.name })),
    virtualServers: Object.entries(renames).map(([name, r]) => ({ name, rename: new Map(Object.entries(r)), descriptions: new Map(), include: [], eras: 'both', tenant: 'default' })),
    gateway: { pageSize: 10_000, separator: '__' },
  } as unknown as Snapshot;
}

export function principal(p: Partial<Principal> = {}): Principal {
  return { subject: 'alice', tenant: 'acme', roles: [], groups: [], authMethod: 'api-key', ...p };
}

/** A call context good enough for route, authorize and the local list answers. */
export function callContext(snapshot: Snapshot, v: CatalogView, p: Principal, method: string, params: Record<string, unknown> = {}): CallContext {
  return {
    id: 'c1',
    startedAt: 0n,
    snapshot,
    view: v,
    request: { jsonrpc: '2.0', id: 1, method, params },
    client: { era: 'legacy', protocolVersion: '2025-11-25', capabilities: {} },
    sessionId: undefined,
    sink: undefined as never,
    signal: new AbortController().signal,
    cancel: new CallCancel(),
    log: silentLogger,
    traceparent: undefined,
    runtime: { cursorKey: Buffer.alloc(32, 1) } as never,
    principal: p,
  } as CallContext;
}
