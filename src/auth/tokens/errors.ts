/**
 * Why a token was refused. The reason travels in `GatewayError.detail.reason` (for logs, audit
 * and tests); the client only ever sees the generic ERR_INVALID_TOKEN message.
 */
import { GatewayError } from '../../pipeline/errors.js';

/** The `detail.reason` values of ERR_INVALID_TOKEN raised by token verification. */
export type TokenRejectReason =
  | 'expired'
  | 'not-yet-valid'
  | 'audience'
  | 'issuer'
  | 'signature'
  | 'algorithm'
  | 'malformed'
  | 'type'
  | 'unknown-key'
  | 'jwks-unavailable'
  | 'inactive'
  | 'claims';

/** ERR_INVALID_TOKEN (401) with its reason; never carries the token. */
export function invalidToken(reason: TokenRejectReason, extra?: Record<string, unknown>): GatewayError {
  return new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason, ...extra } });
}

/** ERR_AUTH_UNAVAILABLE (503): the token may be valid but cannot be checked right now. */
export function authUnavailable(issuer: string, cause?: unknown): GatewayError {
  return new GatewayError('ERR_AUTH_UNAVAILABLE', undefined, { detail: { reason: 'introspection-unavailable', issuer }, cause });
}

/** The optional logger the token code warns through (a pino logger fits). */
export interface TokenLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}
