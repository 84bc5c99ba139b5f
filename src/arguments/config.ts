/**
 * Argument guards a policy rule can switch on (security-checklist D2): checks on every string
 * value of a tool call's arguments, applied after JSON Schema validation and before forwarding.
 */
import { z } from 'zod';

export const ArgumentGuards = z
  .object({
    noLeadingDash: z.boolean().default(false).describe('Refuse any string value starting with "-" (argument injection into CLIs).'),
    noDotDot: z.boolean().default(false).describe('Refuse any string value that still contains a ".." segment after path normalisation.'),
    roots: z
      .array(z.string().min(1))
      .optional()
      .describe('Absolute directories: string values under `pathArgs` must resolve (after normalisation) inside one of them.'),
    pathArgs: z
      .array(z.string().min(1))
      .default(['*path*', '*file*', '*dir*'])
      .describe('Argument names (globs, matched on the top-level key) whose values are paths for `roots`.'),
    noControlChars: z.boolean().default(false).describe('Refuse NUL and other control characters (except tab, CR, LF) in string values.'),
    maxStringLength: z.number().int().positive().optional().describe('Longest string value accepted, in UTF-16 code units.'),
    maxArrayLength: z.number().int().nonnegative().optional().describe('Most items accepted in any array value.'),
  })
  .strict()
  .describe('Argument guards; every guard is off unless switched on.');

export type ArgumentGuardsConfig = z.infer<typeof ArgumentGuards>;
