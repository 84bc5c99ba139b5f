/** Compiles the `rateLimits` section (placeholder: the rate-limit work replaces this). */
import type { RateLimitsConfigT } from './config.js';

export interface CompiledRateLimits {
  enabled: boolean;
}

export function compileRateLimits(cfg: RateLimitsConfigT, _issue: (path: readonly (string | number)[], message: string) => void): CompiledRateLimits {
  return { enabled: cfg.rules.length > 0 };
}
