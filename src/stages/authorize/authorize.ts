/**
 * The authorize stage. First what the caller's OAuth scopes allow (tool groups,
 * `auth.scopes[].tools`), then policy (docs/policy.md): with a `policy` section every tool,
 * prompt and resource call is default deny, and the decision is left in `ctx.decision`.
 */
import type { CallContext } from '../../pipeline/context.js';
import { GatewayError } from '../../pipeline/errors.js';
import { scopesForTool, toolAllowed } from '../../auth/scope-tools.js';
import { isObject } from '../../mcp/jsonrpc.js';
import { policyEngine } from '../../policy/current.js';
import type { Decision } from '../../policy/decision.js';
import type { PolicyEngine } from '../../policy/engine.js';
import type { Route } from '../route/route.js';
import { traceIdOf } from '../../observability/call.js';

export function authorize(ctx: CallContext, route: Route): void {
  if (route.kind !== 'upstream') return;
  if (ctx.request.method === 'tools/call' && route.target) checkScopes(ctx);
  const engine = policyEngine(ctx.snapshot, ctx.runtime.policy);
  if (!engine) return;
  const params = ctx.request.params ?? {};
  let d: Decision;
  switch (route.method) {
    case 'tools/call':
    case 'prompts/get':
      if (!route.target) throw new GatewayError('ERR_POLICY_DENIED', 'Denied by policy', { data: {} });
      d = engine.decideEntry(route.method === 'tools/call' ? 'tool' : 'prompt', ctx.view, route.target, ctx.principal, params.arguments);
      break;
    case 'completion/complete': {
      // Completing a prompt argument or a resource URI needs the right to use that prompt or
      // resource; with no call arguments yet, a prompt is judged as lists judge it.
      const ref = isObject(params.ref) ? params.ref : {};
      d = route.target
        ? engine.listDecision('prompt', ctx.view, route.target, ctx.principal)
        : engine.decideResource(ctx.view.name, route.upstream, String(ref.uri), ctx.principal, { uri: ref.uri });
      break;
    }
    case 'resources/read':
    case 'resources/subscribe':
      d = engine.decideResource(ctx.view.name, route.upstream, route.uri ?? '', ctx.principal, { uri: route.uri });
      break;
    case 'resources/unsubscribe':
      // Dropping interest reveals nothing and must keep working after a rule change.
      return;
    default:
      throw new GatewayError('ERR_POLICY_DENIED', 'Denied by policy', { data: {} });
  }
  ctx.decision = d;
  if (d.shadow) {
    for (const s of d.shadow) ctx.log.info({ call: ctx.id, rule: s.rule, effect: s.effect, enforced: d.effect, method: route.method }, 'policy.shadow');
  }
  if (d.effect === 'allow') return;
  const data = { ...(d.rule !== undefined ? { rule: d.rule } : {}), ...(d.reason !== undefined ? { reason: d.reason } : {}) };
  ctx.log.info({ call: ctx.id, trace: traceIdOf(ctx), effect: d.effect, rule: d.rule, reason: d.reason, method: route.method, tenant: ctx.principal.tenant, subject: ctx.principal.subject }, 'policy.refused');
  // Until approvals exist, require_approval refuses like a deny, with its own code.
  if (d.effect === 'require_approval') throw new GatewayError('ERR_APPROVAL_REQUIRED', d.reason ?? 'Approval required', { data });
  throw new GatewayError('ERR_POLICY_DENIED', d.reason ?? 'Denied by policy', { data });
}

/**
 * A resource URI judged as `resources/subscribe` judges it, for the locally answered modern
 * `subscriptions/listen` (its `resourceSubscriptions`): the view must route the URI (else
 * ERR_RESOURCE_NOT_FOUND) and policy, when configured, must allow it (a deny is ERR_POLICY_DENIED,
 * require_approval is ERR_APPROVAL_REQUIRED). `engine` is the one the caller judges with (for
 * a listen: `policyEngine(ctx.snapshot, ctx.runtime.policy)`); undefined means no policy section.
 */
export function judgeResource(
  engine: PolicyEngine | undefined,
  view: CallContext['view'],
  principal: CallContext['principal'],
  uri: string,
): { refused?: 'ERR_RESOURCE_NOT_FOUND' | 'ERR_POLICY_DENIED' | 'ERR_APPROVAL_REQUIRED'; decision?: Decision } {
  const upstream = view.resourceUpstream(uri);
  if (!upstream) return { refused: 'ERR_RESOURCE_NOT_FOUND' };
  if (!engine) return {};
  const decision = engine.decideResource(view.name, upstream, uri, principal, { uri });
  if (decision.effect === 'allow') return { decision };
  return { refused: decision.effect === 'require_approval' ? 'ERR_APPROVAL_REQUIRED' : 'ERR_POLICY_DENIED', decision };
}

function checkScopes(ctx: CallContext): void {
  const scopes = ctx.snapshot.auth.scopes;
  if (scopes.length === 0) return;
  // The name as this endpoint exposes it (after a virtual server's rename), which the globs are written against.
  const tool = String(ctx.request.params?.name);
  if (toolAllowed(ctx.principal, scopes, ctx.view.name, tool)) return;
  throw new GatewayError('ERR_INSUFFICIENT_SCOPE', `Tool ${tool} needs another scope`, { data: { requiredScopes: scopesForTool(scopes, ctx.view.name, tool) } });
}
