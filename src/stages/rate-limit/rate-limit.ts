/** The rate-limit stage: explicit no-op until the governance issue adds limits. */
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';

export function rateLimit(_ctx: CallContext, _route: Route): void | Promise<void> {}
