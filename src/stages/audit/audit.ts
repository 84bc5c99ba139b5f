/**
 * The audit stage: explicit no-op until the evidence issue adds the Merkle audit log. It will
 * write the decision record (durably, before forwarding side-effecting calls) and the outcome.
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';

export function auditOutcome(_ctx: CallContext, _route: Route | undefined, _outcome: CallOutcome): void {}

/** The decision record, written before a call is forwarded (write-ahead). */
export function auditDecision(_ctx: CallContext, _route: Route): void {}
