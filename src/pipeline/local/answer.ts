/**
 * Methods the gateway answers itself: ping, server/discover, the aggregated lists with the
 * gateway's own sealed cursors, logging/setLevel, and modern subscriptions/listen.
 */
import { createHash } from 'node:crypto';
import { ALL_VERSIONS, META } from '../../mcp/eras.js';
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import { openCursor, sealCursor } from '../../mcp/cursor.js';
import type { CallContext } from '../context.js';
import { toolAllowed, toolsRestricted } from '../../auth/scope-tools.js';
import { GatewayError } from '../errors.js';
import type { LocalMethod } from '../../stages/route/route.js';
import { GATEWAY_INFO, serverCapabilities } from './server-info.js';
import { listen } from './listen.js';
import { policyEngine } from '../../policy/current.js';

const LOG_LEVELS = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

/**
 * Cache hints for modern lists (spec 2026-07-28, server/utilities/caching): lists may differ per
 * principal once policy filters them, so they are private and not cached by default.
 */
const LIST_CACHE = { ttlMs: 0, cacheScope: 'private' } as const;

export async function answerLocally(ctx: CallContext, method: LocalMethod): Promise<CallOutcome> {
  switch (method) {
    case 'ping':
      return { result: {} };
    case 'server/discover':
      return {
        result: {
          supportedVersions: [...ALL_VERSIONS.filter((v) => v !== '2024-11-05')],
          capabilities: serverCapabilities(ctx.view),
          ...(ctx.view.description ? { instructions: ctx.view.description } : {}),
          _meta: { [META.serverInfo]: GATEWAY_INFO },
          ...LIST_CACHE,
        },
      };
    case 'tools/list': {
      const scopes = ctx.snapshot.auth.scopes;
      // A token limited to tool groups sees only those tools (auth.scopes[].tools).
      let tools = toolsRestricted(ctx.principal, scopes, ctx.view.name)
        ? ctx.view.tools.filter((t) => toolAllowed(ctx.principal, scopes, ctx.view.name, t.exposed))
        : ctx.view.tools;
      // Policy: a list shows exactly what the principal may use (docs/policy.md, "What lists show").
      const pe = policyEngine(ctx.snapshot, ctx.runtime.policy);
      if (pe) tools = tools.filter((t) => pe.listsEntry('tool', ctx.view, t, ctx.principal));
      return page(ctx, 'tools', tools.map((t) => t.def));
    }
    case 'prompts/list': {
      const pe = policyEngine(ctx.snapshot, ctx.runtime.policy);
      const prompts = pe ? ctx.view.prompts.filter((p) => pe.listsEntry('prompt', ctx.view, p, ctx.principal)) : ctx.view.prompts;
      return page(ctx, 'prompts', prompts.map((p) => p.def));
    }
    case 'resources/list': {
      const pe = policyEngine(ctx.snapshot, ctx.runtime.policy);
      const resources = pe ? ctx.view.resources.filter((r) => pe.decideResource(ctx.view.name, r.upstream, r.uri, ctx.principal, { uri: r.uri }, true).effect !== 'deny') : ctx.view.resources;
      return page(ctx, 'resources', resources.map((r) => r.def));
    }
    case 'resources/templates/list': {
      const pe = policyEngine(ctx.snapshot, ctx.runtime.policy);
      // A template is listed when a rule's resource globs match its URI template text (docs/policy.md).
      const templates = pe
        ? ctx.view.templates.filter((t) => pe.decideResource(ctx.view.name, t.upstream, t.uriTemplate, ctx.principal, { uri: t.uriTemplate }, true).effect !== 'deny')
        : ctx.view.templates;
      return page(ctx, 'resourceTemplates', templates.map((t) => t.def));
    }
    case 'logging/setLevel': {
      const level = ctx.request.params?.level;
      if (typeof level !== 'string' || !LOG_LEVELS.has(level)) throw new GatewayError('ERR_INVALID_PARAMS', 'params.level must be a syslog level name');
      ctx.setLogLevel?.(level);
      return { result: {} };
    }
    case 'subscriptions/listen':
      return listen(ctx);
  }
}

function principalHash(ctx: CallContext): string {
  return createHash('sha256').update(`${ctx.principal.tenant}\u0000${ctx.principal.subject}`).digest('base64url').slice(0, 16);
}

function page(ctx: CallContext, key: string, items: readonly Record<string, unknown>[]): CallOutcome {
  const size = ctx.snapshot.gateway.pageSize;
  const cursor = ctx.request.params?.cursor;
  let offset = 0;
  if (cursor !== undefined) {
    const c = typeof cursor === 'string' ? openCursor(ctx.runtime.cursorKey, cursor) : undefined;
    // A cursor from another list, endpoint, principal or catalogue version is refused cleanly (spec: -32602).
    if (!c || c.k !== key || c.v !== ctx.view.name || c.p !== principalHash(ctx) || c.c !== ctx.view.catalogVersion || c.o > items.length) {
      throw new GatewayError('ERR_INVALID_CURSOR');
    }
    offset = c.o;
  }
  const slice = items.slice(offset, offset + size);
  const result: Record<string, unknown> = { [key]: slice };
  if (offset + size < items.length) {
    result.nextCursor = sealCursor(ctx.runtime.cursorKey, { v: ctx.view.name, o: offset + size, c: ctx.view.catalogVersion, p: principalHash(ctx), k: key });
  }
  if (ctx.client.era === 'modern') Object.assign(result, LIST_CACHE);
  return { result };
}
