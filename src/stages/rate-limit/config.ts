/** The `rateLimits` section (placeholder: the rate-limit work replaces this schema). */
import { z } from 'zod';

export const RateLimitsConfig = z
  .object({
    rules: z.array(z.object({ name: z.string().describe('Rule name.') }).strict()).default([]).describe('Limits.'),
  })
  .strict()
  .prefault({})
  .describe('Rate limits and quotas.');

export type RateLimitsConfigT = z.infer<typeof RateLimitsConfig>;
