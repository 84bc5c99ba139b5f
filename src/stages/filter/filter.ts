/**
 * The content-filter stages (the one open extension point of the architecture). Inbound, a
 * `tools/call` must honour its argument contract before it leaves the gateway: the tool's own
 * `inputSchema`, then the argument guards of every policy rule that allowed it (docs/arguments.md).
 * Redaction, secret masking and injection detection arrive later.
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';
import { compiledSchema, validateArguments } from '../../arguments/validate.js';
import { checkGuards } from '../../arguments/compile.js';

export function filterIn(ctx: CallContext, r: Route): void {
  if (r.kind !== 'upstream' || r.method !== 'tools/call' || !r.target) return;
  const target = r.target;
  const contract = compiledSchema(target.def.inputSchema, target.def);
  if (contract.kind === 'broken' && !contract.reported) {
    contract.reported = true; // once per distinct schema: identical schemas share this object
    ctx.log.warn({ call: ctx.id, upstream: target.upstream, tool: target.original, reason: contract.reason }, 'arguments.schema_refused');
  }
  const args = validateArguments(contract, target.exposed, r.params.arguments);
  const guards = ctx.decision?.guards;
  if (guards !== undefined && guards.length > 0) checkGuards(guards, args);
}

export function filterOut(_ctx: CallContext, _route: Route, outcome: CallOutcome): CallOutcome {
  return outcome;
}
