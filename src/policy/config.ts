/** The `policy` section (placeholder: the policy work replaces this schema). */
import { z } from 'zod';

export const PolicyConfig = z
  .object({
    rules: z.array(z.object({ id: z.string().describe('Rule id.') }).strict()).default([]).describe('Rules.'),
  })
  .strict()
  .optional()
  .describe('Tool-level authorization rules. Absent: every principal may call every tool it can see.');

export type PolicyConfigT = z.infer<typeof PolicyConfig>;
