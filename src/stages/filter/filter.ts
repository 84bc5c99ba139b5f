/**
 * The content-filter stages (the one open extension point of the architecture): explicit
 * no-ops until redaction, secret masking and injection detection arrive.
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';

export function filterIn(_ctx: CallContext, _route: Route): void {}

export function filterOut(_ctx: CallContext, _route: Route, outcome: CallOutcome): CallOutcome {
  return outcome;
}
