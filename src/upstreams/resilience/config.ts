/** Per-upstream `resilience` and the gateway's `overload` settings (placeholder: the resilience work replaces these). */
import { z } from 'zod';

export const ResilienceConfig = z.object({}).strict().describe('Retries, circuit breaker and bulkhead for this upstream.');
export type ResilienceConfigT = z.infer<typeof ResilienceConfig>;

export const OverloadConfig = z.object({}).strict().describe('Load shedding.');
export type OverloadConfigT = z.infer<typeof OverloadConfig>;
