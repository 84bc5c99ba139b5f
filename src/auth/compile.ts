/**
 * Compiles the `auth` section into the snapshot: the mode the front door runs in, and scopes
 * with their globs compiled. The one rule the schema cannot say lives here: an open gateway may
 * only listen on loopback unless the file says `auth: none` in so many words.
 */
import type { AuthSettings, ScopeDef } from './config.js';
import { compileGlob, type GlobMatcher } from '../config/glob.js';
import { isLoopbackHost } from '../http/guards.js';

/** open: no `auth` key (loopback only); none: `auth: none` (explicit); required: credentials on every MCP route. */
export type AuthMode = 'open' | 'none' | 'required';

export interface CompiledScope {
  name: string;
  description?: string;
  /** Endpoint names this scope opens (`default` is /mcp); undefined means every endpoint. */
  servers?: ReadonlySet<string>;
  /** Tools allowed through this scope; undefined means every tool. */
  tools?: GlobMatcher;
}

export interface CompiledAuth {
  mode: AuthMode;
  settings?: AuthSettings;
  scopes: readonly CompiledScope[];
}

/** Issues are reported through `issue(pathFromAuth, message)`. */
export function compileAuth(auth: 'none' | AuthSettings | undefined, host: string, publicUrl: string | undefined, issue: (path: (string | number)[], message: string) => void): CompiledAuth {
  if (auth === undefined) {
    if (!isLoopbackHost(host)) {
      issue(['gateway', 'host'], `listening on ${host} without authentication is refused: configure \`auth\`, or set \`auth: none\` to run open on purpose`);
    }
    return { mode: 'open', scopes: [] };
  }
  if (auth === 'none') return { mode: 'none', scopes: [] };
  const seen = new Set<string>();
  auth.scopes.forEach((s, i) => {
    if (seen.has(s.name)) issue(['auth', 'scopes', i, 'name'], `duplicate scope "${s.name}"`);
    seen.add(s.name);
    if (s.name === 'openid' || s.name === 'offline_access') issue(['auth', 'scopes', i, 'name'], `"${s.name}" is reserved for OpenID Connect`);
  });
  if (!isLoopbackHost(host) && auth.resource === undefined && publicUrl === undefined) {
    issue(['gateway', 'publicUrl'], `required when authentication is on and the gateway listens on ${host}: tokens are bound to the URL clients use`);
  }
  const builtIn = auth.authorizationServer.enabled;
  if (!builtIn && auth.issuers.length === 0 && !auth.apiKeys.enabled) {
    issue(['auth'], 'no way to authenticate: enable authorizationServer, add issuers, or enable apiKeys');
  }
  return { mode: 'required', settings: auth, scopes: auth.scopes.map(compileScope) };
}

function compileScope(s: ScopeDef): CompiledScope {
  return {
    name: s.name,
    ...(s.description !== undefined ? { description: s.description } : {}),
    ...(s.servers.includes('*') ? {} : { servers: new Set(s.servers) }),
    ...(s.tools !== undefined ? { tools: compileGlob(s.tools) } : {}),
  };
}
