/**
 * 401 and 403 answers of the resource server (RFC 6750 §3, RFC 9728 §5.1). Every refusal names
 * where the metadata is, so a client can find the authorization server from the refusal alone;
 * 403 names only the scopes this endpoint needs (step-up), never the whole catalogue.
 */
import type { ServerResponse } from 'node:http';
import { GatewayError } from '../../pipeline/errors.js';
import { sendError } from '../../http/respond.js';

/** RFC 6750 quoted-string content: our scope names and URLs never contain `"` or `\`, but be sure. */
const quote = (v: string): string => `"${v.replace(/["\\]/g, '')}"`;

export function challengeHeader(e: GatewayError, metadata: string, scopes: readonly string[]): string {
  const parts = [`resource_metadata=${quote(metadata)}`];
  if (e.code === 'ERR_INVALID_TOKEN') parts.unshift('error="invalid_token"');
  if (e.code === 'ERR_INSUFFICIENT_SCOPE') parts.unshift('error="insufficient_scope"');
  if (e.code === 'ERR_TOKEN_IN_QUERY') parts.unshift('error="invalid_request"');
  if (scopes.length > 0) parts.push(`scope=${quote(scopes.join(' '))}`);
  return `Bearer ${parts.join(', ')}`;
}

/** Writes the refusal: JSON-RPC error body, status from the error table, and the challenge. */
export function sendAuthError(res: ServerResponse, e: GatewayError, metadata: string, scopes: readonly string[]): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (e.httpStatus === 401 || e.httpStatus === 403 || e.code === 'ERR_TOKEN_IN_QUERY') headers['www-authenticate'] = challengeHeader(e, metadata, scopes);
  sendError(res, e, null, undefined, headers);
}

/** True for errors the front door answers with a challenge rather than a JSON-RPC result. */
export function isAuthError(e: unknown): e is GatewayError {
  return (
    e instanceof GatewayError &&
    (e.code === 'ERR_UNAUTHENTICATED' || e.code === 'ERR_INVALID_TOKEN' || e.code === 'ERR_INSUFFICIENT_SCOPE' || e.code === 'ERR_TOKEN_IN_QUERY' || e.code === 'ERR_AUTH_UNAVAILABLE')
  );
}
