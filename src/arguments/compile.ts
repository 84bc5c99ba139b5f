/** Compiles argument guards once per snapshot (placeholder: the argument-contract work replaces this). */
import type { ArgumentGuardsConfig } from './config.js';

export interface CompiledGuards {
  readonly config: ArgumentGuardsConfig;
}

export function compileGuards(cfg: ArgumentGuardsConfig): CompiledGuards {
  return { config: cfg };
}
