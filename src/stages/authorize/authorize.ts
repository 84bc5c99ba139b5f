/**
 * The authorize stage. Today it enforces what the caller's OAuth scopes allow (tool groups,
 * `auth.scopes[].tools`); the governance issue adds policy here and makes it default-deny.
 */
import type { CallContext } from '../../pipeline/context.js';
import { GatewayError } from '../../pipeline/errors.js';
import { scopesForTool, toolAllowed } from '../../auth/scope-tools.js';
import type { Route } from '../route/route.js';

export function authorize(ctx: CallContext, route: Route): void {
  if (route.kind !== 'upstream' || ctx.request.method !== 'tools/call' || !route.target) return;
  const scopes = ctx.snapshot.auth.scopes;
  if (scopes.length === 0) return;
  // The name as this endpoint exposes it (after a virtual server's rename), which the globs are written against.
  const tool = String(ctx.request.params?.name);
  if (toolAllowed(ctx.principal, scopes, ctx.view.name, tool)) return;
  throw new GatewayError('ERR_INSUFFICIENT_SCOPE', `Tool ${tool} needs another scope`, { data: { requiredScopes: scopesForTool(scopes, ctx.view.name, tool) } });
}
