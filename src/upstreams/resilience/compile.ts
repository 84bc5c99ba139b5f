/** Compiles resilience and overload settings (placeholder: the resilience work replaces this). */
import type { OverloadConfigT, ResilienceConfigT } from './config.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface CompiledResilience {}
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface CompiledOverload {}

export function compileResilience(_cfg: ResilienceConfigT): CompiledResilience {
  return {};
}

export function compileOverload(_cfg: OverloadConfigT): CompiledOverload {
  return {};
}
