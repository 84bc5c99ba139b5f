/** What the authorize stage decided about one call; later stages (filter, audit) read it. */
import type { CompiledGuards } from '../arguments/compile.js';

export type Effect = 'allow' | 'deny' | 'require_approval';

export interface Decision {
  effect: Effect;
  /** Id of the rule that decided; undefined for the default (no rule matched) or no policy. */
  rule?: string;
  /** Shown to the caller on refusal, and recorded. */
  reason?: string;
  /** Argument guards switched on by the matching allow rules; every one is checked. */
  guards: readonly CompiledGuards[];
  /** Shadow rules that matched (evaluated and logged, not enforced). */
  shadow?: readonly { rule: string; effect: Effect }[];
}
