/**
 * The rate-limit stage: every rule the call matches must have room (docs/rate-limits.md).
 * With the memory store it is synchronous and throws; with Redis it returns a Promise that
 * rejects, and handleCall awaits it.
 */
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';

export function rateLimit(ctx: CallContext, r: Route): void | Promise<void> {
  const rl = ctx.snapshot.rateLimits;
  if (!rl.enabled) return;
  return ctx.runtime.limiter.check(rl, ctx, r);
}
