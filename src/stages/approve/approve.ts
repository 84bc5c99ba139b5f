/** The approval stage: explicit no-op until human approvals arrive. */
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';

export function approve(_ctx: CallContext, _route: Route): void {}
