/** Compiles the `policy` section into the snapshot (placeholder: the policy work replaces this). */
import type { PolicyConfigT } from './config.js';

export interface CompiledPolicy {
  /** False when the config has no `policy` section. */
  enabled: boolean;
}

export function compilePolicy(cfg: PolicyConfigT, _issue: (path: readonly (string | number)[], message: string) => void): CompiledPolicy {
  return { enabled: cfg !== undefined };
}
