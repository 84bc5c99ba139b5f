/**
 * Argument guards a policy rule can switch on (security-checklist D2): checks on every string
 * value of a tool call's arguments, applied after JSON Schema validation and before forwarding.
 */
import { z } from 'zod';

const absolute = (p: string): boolean => p.startsWith('/');

export const ArgumentGuards = z
  .object({
    noLeadingDash: z
      .boolean()
      .default(false)
      .describe('Refuse any string value starting with "-" after leading white space (everything `String.prototype.trim()` or Python\'s `str.strip()` removes): argument injection into command-line tools such as `git --output=…`.'),
    noDotDot: z
      .boolean()
      .default(false)
      .describe('Refuse any string value with a ".." path segment once backslashes, percent-encoding and Unicode compatibility forms are normalised (`../x`, `a\\..\\b`, `%2e%2e/x`).'),
    roots: z
      .array(z.string().min(1).max(4096).refine(absolute, 'must be an absolute path'))
      .max(64)
      .optional()
      .describe('Absolute directories: every string under `pathArgs` must be an absolute path that stays inside one of them after normalisation (relative paths are refused, and so are `..` segments that appear only once percent-decoded or NFKC-folded). Checked lexically: symlinks are not resolved.'),
    pathArgs: z
      .array(z.string().min(1).max(256))
      .max(64)
      .default(['*path*', '*file*', '*dir*'])
      .describe('Top-level argument names (globs, `*` and `?`, matched case-insensitively) whose values (strings, or strings inside arrays and objects) are paths checked against `roots`.'),
    noControlChars: z
      .boolean()
      .default(false)
      .describe('Refuse NUL and every other control character (C0 except tab, CR, LF; DEL; C1) in string values and object keys.'),
    maxStringLength: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Longest string value (or object key) accepted, in UTF-16 code units.'),
    maxArrayLength: z.number().int().nonnegative().optional().describe('Most items accepted in any array value, at any depth.'),
  })
  .strict()
  .describe('Argument guards; every guard is off unless switched on. They apply to every string anywhere in the arguments (up to 64 levels deep), except `roots`, which applies to `pathArgs`.');

export type ArgumentGuardsConfig = z.infer<typeof ArgumentGuards>;
