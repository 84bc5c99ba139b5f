/**
 * Verifies one compact JWT access token against one configured issuer: signature with an
 * allowlisted algorithm and a key from the issuer's JWKS, exact `iss`, one of the audiences,
 * `exp` required, `nbf`/`exp` with the configured clock skew, and `typ` when configured.
 * Every failure becomes ERR_INVALID_TOKEN with a `detail.reason`; no message carries the token.
 */
import { errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { GatewayError } from '../../pipeline/errors.js';
import type { JwsAlgorithm } from './config.js';
import { invalidToken } from './errors.js';

/** What a token must satisfy, already resolved from the issuer config. */
export interface JwtCheck {
  /** Exact expected `iss`. */
  issuer: string;
  /** Any one must be in the token's `aud`. Never empty. */
  audiences: readonly string[];
  algorithms: readonly JwsAlgorithm[];
  clockSkewMs: number;
  /** Required `typ` header, when configured. */
  typ?: string;
}

// When a token has no `kid` and several keys fit, each is tried; a JWKS rarely holds more.
const MAX_KEY_CANDIDATES = 8;

/**
 * Verifies the token and returns its claims.
 * @throws GatewayError ERR_INVALID_TOKEN with `detail.reason`.
 */
export async function verifyJwt(token: string, getKey: JWTVerifyGetKey, check: JwtCheck, nowMs: number): Promise<JWTPayload> {
  if (check.audiences.length === 0) throw invalidToken('audience');
  const options: JWTVerifyOptions = {
    algorithms: [...check.algorithms],
    issuer: check.issuer,
    audience: [...check.audiences],
    clockTolerance: Math.ceil(check.clockSkewMs / 1000),
    requiredClaims: ['exp'],
    currentDate: new Date(nowMs),
    ...(check.typ !== undefined ? { typ: check.typ } : {}),
  };
  try {
    const { payload } = await jwtVerify(token, getKey, options);
    return payload;
  } catch (e) {
    if (e instanceof errors.JWKSMultipleMatchingKeys) return tryEachKey(token, e, options);
    throw toTokenError(e);
  }
}

async function tryEachKey(token: string, candidates: AsyncIterable<CryptoKey>, options: JWTVerifyOptions): Promise<JWTPayload> {
  let tried = 0;
  for await (const key of candidates) {
    if (++tried > MAX_KEY_CANDIDATES) break;
    try {
      const { payload } = await jwtVerify(token, key, options);
      return payload;
    } catch (e) {
      if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw toTokenError(e);
    }
  }
  throw invalidToken('signature');
}

/** Maps anything jose (or the key source) threw to ERR_INVALID_TOKEN with a reason. */
export function toTokenError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  if (e instanceof errors.JWTExpired) return invalidToken('expired', { claim: e.claim });
  if (e instanceof errors.JWTClaimValidationFailed) {
    const checkFailed = e.reason === 'check_failed' || e.reason === 'mismatch';
    switch (e.claim) {
      case 'aud':
        return invalidToken('audience', { claim: 'aud' });
      case 'iss':
        return invalidToken('issuer', { claim: 'iss' });
      case 'typ':
        return invalidToken('type', { claim: 'typ' });
      case 'nbf':
      case 'iat':
        return invalidToken(checkFailed ? 'not-yet-valid' : 'malformed', { claim: e.claim });
      default:
        return invalidToken('malformed', { claim: e.claim });
    }
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return invalidToken('algorithm');
  if (e instanceof errors.JWSSignatureVerificationFailed) return invalidToken('signature');
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKInvalid || e instanceof errors.JWKSInvalid) return invalidToken('unknown-key');
  return invalidToken('malformed');
}
