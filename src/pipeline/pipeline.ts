/**
 * THE order of the data plane. Every downstream JSON-RPC request goes through handleCall();
 * config decides whether a stage does anything, never the order (docs/architecture.md).
 */
import type { CallOutcome } from '../mcp/jsonrpc.js';
import type { CallContext } from './context.js';
import { asGatewayError } from './errors.js';
import { forward } from './forward.js';
import { authenticate } from '../stages/authenticate/authenticate.js';
import { route, type Route } from '../stages/route/route.js';
import { authorize } from '../stages/authorize/authorize.js';
import { rateLimit } from '../stages/rate-limit/rate-limit.js';
import { filterIn, filterOut } from '../stages/filter/filter.js';
import { approve } from '../stages/approve/approve.js';
import { auditDecision, auditOutcome } from '../stages/audit/audit.js';

export async function handleCall(ctx: CallContext): Promise<CallOutcome> {
  let r: Route | undefined;
  let outcome: CallOutcome;
  try {
    authenticate(ctx); //  1. who is calling (credentials were checked before the body was read)
    r = route(ctx); //      2. which upstream (or the gateway itself) serves this method and name
    authorize(ctx, r); //   3. may this principal make this call
    const limited = rateLimit(ctx, r); // 4. within its limits (a Promise only with a shared store)
    if (limited) await limited;
    filterIn(ctx, r); //    5. validate and filter the arguments
    approve(ctx, r); //     6. human approval for destructive calls
    auditDecision(ctx, r); //  the decision is recorded before anything is forwarded
    outcome = await forward(ctx, r); // 7. send it upstream (or answer locally)
    outcome = filterOut(ctx, r, outcome); // 8. filter what comes back
  } catch (e) {
    const ge = asGatewayError(e);
    if (ge.code === 'ERR_INTERNAL') ctx.log.error({ call: ctx.id, err: e }, 'call.internal_error');
    outcome = { error: ge.toRpcError() };
  }
  auditOutcome(ctx, r, outcome); // 9. record the outcome
  if (ctx.log.isLevelEnabled('debug')) {
    const us = Number(process.hrtime.bigint() - ctx.startedAt) / 1000;
    ctx.log.debug({ call: ctx.id, method: ctx.request.method, upstream: r?.kind === 'upstream' ? r.upstream : undefined, us, error: 'error' in outcome ? outcome.error.code : undefined }, 'call');
  }
  return outcome;
}
