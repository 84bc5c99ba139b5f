/** Access-token verification (the gateway as an OAuth resource server): the public surface. */
export { TrustedIssuer, TrustedIssuers, ClaimPath, JWS_ALGORITHMS, TENANT_PATTERN, type TrustedIssuerConfig, type TrustedIssuerInput, type ClaimsMapping, type IntrospectionConfig, type JwsAlgorithm } from './config.js';
export { TokenVerifier, bearerFrom, MAX_TOKEN_LENGTH, type TokenVerifierOptions, type VerifiedToken } from './verifier.js';
export { tokenKey } from './cache.js';
export type { TokenRejectReason, TokenLogger } from './errors.js';
