/**
 * The authorize stage: explicit no-op until the governance issue adds policy. The gateway runs
 * open on loopback by default; the policy engine will make this default-deny.
 */
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';

export function authorize(_ctx: CallContext, _route: Route): void {}
