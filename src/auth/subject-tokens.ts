/**
 * The access token a principal was verified from, for RFC 8693 token exchange toward upstreams
 * (sent only to the configured token endpoint, never to an upstream). Kept beside the principal
 * in a WeakMap rather than on it, so it can never end up in a log line or a serialised context.
 */
import type { Principal } from '../pipeline/context.js';

const tokens = new WeakMap<Principal, string>();

export function rememberSubjectToken(p: Principal, token: string): void {
  tokens.set(p, token);
}

export function subjectTokenOf(p: Principal): string | undefined {
  return tokens.get(p);
}
