/**
 * The route stage: decides where a call goes. Gateway-owned methods (initialize-era plumbing,
 * discovery, the aggregated lists) are answered locally; tools, prompts, resources and
 * completions go to the one upstream that owns the name or URI, with the exposed name mapped
 * back to the upstream's own. Names come from the body only, never from headers.
 */
import { GatewayError } from '../../pipeline/errors.js';
import { isObject } from '../../mcp/jsonrpc.js';
import type { CallContext } from '../../pipeline/context.js';
import type { NamedEntry } from '../../catalog/catalog.js';

export type LocalMethod =
  | 'ping'
  | 'server/discover'
  | 'tools/list'
  | 'prompts/list'
  | 'resources/list'
  | 'resources/templates/list'
  | 'logging/setLevel'
  | 'subscriptions/listen';

export type Route =
  | { kind: 'local'; method: LocalMethod }
  | {
      kind: 'upstream';
      upstream: string;
      method: string;
      /** Params as the upstream must see them (names mapped back). */
      params: Record<string, unknown>;
      /** The tool or prompt this call targets, for policy and audit. */
      target?: NamedEntry;
      /** resources/subscribe and unsubscribe also update the session's interest. */
      uri?: string;
    };

const LOCAL = new Set<string>(['ping', 'server/discover', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'logging/setLevel', 'subscriptions/listen']);

export function route(ctx: CallContext): Route {
  const { method } = ctx.request;
  const params = ctx.request.params ?? {};
  if (LOCAL.has(method)) return { kind: 'local', method: method as LocalMethod };
  switch (method) {
    case 'tools/call': {
      const name = params.name;
      const entry = typeof name === 'string' ? ctx.view.tool(name) : undefined;
      if (!entry) throw new GatewayError('ERR_UNKNOWN_TOOL', `Unknown tool: ${String(name).slice(0, 128)}`);
      return { kind: 'upstream', upstream: entry.upstream, method, params: { ...params, name: entry.original }, target: entry };
    }
    case 'prompts/get': {
      const name = params.name;
      const entry = typeof name === 'string' ? ctx.view.prompt(name) : undefined;
      if (!entry) throw new GatewayError('ERR_UNKNOWN_PROMPT', `Unknown prompt: ${String(name).slice(0, 128)}`);
      return { kind: 'upstream', upstream: entry.upstream, method, params: { ...params, name: entry.original }, target: entry };
    }
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const uri = params.uri;
      if (typeof uri !== 'string') throw new GatewayError('ERR_INVALID_PARAMS', 'params.uri must be a string');
      const upstream = ctx.view.resourceUpstream(uri);
      if (!upstream) throw new GatewayError('ERR_RESOURCE_NOT_FOUND', `Resource not found: ${uri.slice(0, 256)}`, { data: { uri } });
      return { kind: 'upstream', upstream, method, params, uri };
    }
    case 'completion/complete': {
      const ref = params.ref;
      if (!isObject(ref)) throw new GatewayError('ERR_INVALID_PARAMS', 'params.ref must be an object');
      if (ref.type === 'ref/prompt' && typeof ref.name === 'string') {
        const entry = ctx.view.prompt(ref.name);
        if (!entry) throw new GatewayError('ERR_UNKNOWN_PROMPT', `Unknown prompt: ${ref.name.slice(0, 128)}`);
        return { kind: 'upstream', upstream: entry.upstream, method, params: { ...params, ref: { ...ref, name: entry.original } }, target: entry };
      }
      if (ref.type === 'ref/resource' && typeof ref.uri === 'string') {
        const upstream = ctx.view.resourceUpstream(ref.uri);
        if (!upstream) throw new GatewayError('ERR_RESOURCE_NOT_FOUND', `Resource not found: ${ref.uri.slice(0, 256)}`);
        return { kind: 'upstream', upstream, method, params };
      }
      throw new GatewayError('ERR_INVALID_PARAMS', 'params.ref must be a ref/prompt or ref/resource');
    }
    default:
      throw new GatewayError('ERR_METHOD_NOT_FOUND', `Method not found: ${method.slice(0, 128)}`);
  }
}
