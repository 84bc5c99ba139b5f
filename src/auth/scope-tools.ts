/**
 * Tool groups by scope: a token limited to scopes whose `tools` globs do not cover a tool can
 * neither see it in `tools/list` nor call it. Principals without scopes (anonymous, API keys) are
 * not scope-limited here; their limits come from keys and, later, policy.
 */
import type { Principal } from '../pipeline/context.js';
import type { CompiledScope } from './compile.js';

/** True when one of the principal's granted scopes opens `endpoint` and covers `tool`. */
export function toolAllowed(principal: Principal, scopes: readonly CompiledScope[], endpoint: string, tool: string): boolean {
  const granted = principal.scopes;
  if (granted === undefined) return true;
  return scopes.some((s) => granted.includes(s.name) && (!s.servers || s.servers.has(endpoint)) && (!s.tools || s.tools(tool)));
}

/** The scopes that would allow `tool` on `endpoint` (for a step-up hint). */
export function scopesForTool(scopes: readonly CompiledScope[], endpoint: string, tool: string): string[] {
  return scopes.filter((s) => (!s.servers || s.servers.has(endpoint)) && (!s.tools || s.tools(tool))).map((s) => s.name);
}

/** True when the principal's scopes restrict tools at all on this endpoint (fast path for lists). */
export function toolsRestricted(principal: Principal, scopes: readonly CompiledScope[], endpoint: string): boolean {
  const granted = principal.scopes;
  if (granted === undefined) return false;
  return !scopes.some((s) => granted.includes(s.name) && (!s.servers || s.servers.has(endpoint)) && !s.tools);
}
