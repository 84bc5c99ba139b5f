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
import { capturePayload } from '../audit/capture/hook.js';
import { finish, mark } from '../observability/call.js';

export async function handleCall(ctx: CallContext): Promise<CallOutcome> {
  let r: Route | undefined;
  let outcome: CallOutcome;
  mark(ctx, 0); // observability (src/observability/call.ts): stage stamps, spans, metrics
  try {
    authenticate(ctx); //  1. who is calling (credentials were checked before the body was read)
    mark(ctx, 1);
    r = route(ctx); //      2. which upstream (or the gateway itself) serves this method and name
    mark(ctx, 2);
    authorize(ctx, r); //   3. may this principal make this call
    mark(ctx, 3);
    const limited = rateLimit(ctx, r); // 4. within its limits (a Promise only with a shared store)
    if (limited) await limited;
    mark(ctx, 4);
    filterIn(ctx, r); //    5. validate and filter the arguments
    mark(ctx, 5);
    approve(ctx, r); //     6. human approval for destructive calls
    mark(ctx, 6);
    const audited = auditDecision(ctx, r); // the decision is recorded (durably, for side-effecting calls) before anything is forwarded
    if (audited) await audited;
    mark(ctx, 7, r); // (the audit decision is stamped here; tracing opens the upstream hop span)
    outcome = await forward(ctx, r); // 7. send it upstream (or answer locally)
    mark(ctx, 8);
    outcome = filterOut(ctx, r, outcome); // 8. filter what comes back
    mark(ctx, 9);
  } catch (e) {
    const ge = asGatewayError(e);
    if (ge.code === 'ERR_INTERNAL') ctx.log.error({ call: ctx.id, err: e }, 'call.internal_error');
    outcome = { error: ge.toRpcError() };
  }
  ctx.respond?.(outcome); // the reply leaves now: what follows is bookkeeping, off the client's clock
  auditOutcome(ctx, r, outcome); // 9. record the outcome
  capturePayload(ctx, r, outcome); // redacted payload capture, only where a virtual server enables it (debugging; after the reply)
  finish(ctx, r, outcome); // metrics, spans and the `call` log line
  return outcome;
}
