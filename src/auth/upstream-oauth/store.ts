/**
 * Persistence of the upstream OAuth client's state per (upstream, principal), sealed in the
 * gateway's encrypted secret store. Record names carry a hash of the principal key, not the key
 * itself (it may hold characters names do not allow, and names appear in listings):
 * `upstream-oauth/<upstream>/<first 32 hex of SHA-256(principalKey)>/<kind>`. Every record is
 * bounded in size and validated when read back, so a corrupt or oversized record reads as absent
 * or fails loudly instead of reaching the SDK.
 */
import { createHash } from 'node:crypto';
import {
  OAuthClientInformationFullSchema,
  OAuthClientInformationSchema,
  OAuthMetadataSchema,
  OAuthProtectedResourceMetadataSchema,
  OAuthTokensSchema,
  OpenIdProviderDiscoveryMetadataSchema,
} from '@modelcontextprotocol/core';
import type { OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client';
import { GatewayError } from '../../pipeline/errors.js';
import type { EncryptedSecrets } from '../secrets/secret-store.js';

/** Namespace of every upstream OAuth record in the secret store. */
export const UPSTREAM_OAUTH_PREFIX = 'upstream-oauth/';

/** What is kept per (upstream, principal). */
export type RecordKind = 'client' | 'tokens' | 'verifier' | 'discovery' | 'challenge';

/** Largest serialized record of each kind, in UTF-8 bytes (all below the store's 64 KB cap). */
export const RECORD_LIMITS: Readonly<Record<RecordKind, number>> = {
  client: 16 * 1024,
  tokens: 32 * 1024,
  verifier: 512,
  discovery: 60 * 1024,
  challenge: 4 * 1024,
};

/** Longest principal key accepted. */
export const MAX_PRINCIPAL_KEY = 1024;
const UPSTREAM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$/;

/** Tokens plus what the gateway needs to know about them. */
export interface TokensRecord {
  tokens: StoredOAuthTokens;
  /** When the token response was received (ms since the epoch), for `expires_in`. */
  savedAt: number;
  /** The scope asked for, when the token response does not say what was granted. */
  requestedScope?: string;
}

/** The last challenge the upstream answered with (401, or 403 insufficient_scope). */
export interface ChallengeRecord {
  /** Scope the next authorization request asks for (for step-up: the accumulated union). */
  scope?: string;
  /** `resource_metadata` from the challenge. */
  resourceMetadataUrl?: string;
  /** True when this is a 403 insufficient_scope step-up. */
  stepUp: boolean;
  /** Step-ups and futile challenges since `windowStart`, to bound re-authorization loops. */
  stepUps: number;
  windowStart: number;
}

/** The first 32 hex characters of SHA-256(principalKey): the principal's segment in record names. */
export function principalHash(principalKey: string): string {
  return createHash('sha256').update(principalKey, 'utf8').digest('hex').slice(0, 32);
}

/** The record name of one kind of state. Throws ERR_BAD_INPUT for an invalid upstream name or principal key. */
export function recordName(upstream: string, principalKey: string, kind: RecordKind): string {
  checkUpstreamName(upstream);
  checkPrincipalKey(principalKey);
  return `${UPSTREAM_OAUTH_PREFIX}${upstream}/${principalHash(principalKey)}/${kind}`;
}

/** Throws ERR_BAD_INPUT unless `name` is a valid upstream name. */
export function checkUpstreamName(name: string): void {
  if (!UPSTREAM_NAME.test(name)) throw new GatewayError('ERR_BAD_INPUT', 'invalid upstream name');
}

/** Throws ERR_BAD_INPUT unless the principal key is 1 to 1024 characters. */
export function checkPrincipalKey(principalKey: string): void {
  if (typeof principalKey !== 'string' || principalKey.length === 0 || principalKey.length > MAX_PRINCIPAL_KEY) {
    throw new GatewayError('ERR_BAD_INPUT', `invalid principal key (1 to ${MAX_PRINCIPAL_KEY} characters)`);
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function parseTokens(v: unknown): TokensRecord | undefined {
  const o = obj(v);
  const t = OAuthTokensSchema.safeParse(o?.tokens);
  if (!o || !t.success || typeof o.savedAt !== 'number' || !Number.isFinite(o.savedAt)) return undefined;
  const requestedScope = str(o.requestedScope);
  return { tokens: t.data, savedAt: o.savedAt, ...(requestedScope !== undefined ? { requestedScope } : {}) };
}

function parseClient(v: unknown): StoredOAuthClientInformation | undefined {
  // Registered clients keep their full metadata (the token endpoint auth method matters); CIMD
  // and pre-registered ones are just an id.
  const full = OAuthClientInformationFullSchema.safeParse(v);
  if (full.success) return full.data;
  const basic = OAuthClientInformationSchema.safeParse(v);
  return basic.success ? basic.data : undefined;
}

function parseDiscovery(v: unknown): OAuthDiscoveryState | undefined {
  const o = obj(v);
  const asUrl = str(o?.authorizationServerUrl);
  if (!o || asUrl === undefined) return undefined;
  let authorizationServerMetadata: OAuthDiscoveryState['authorizationServerMetadata'];
  if (o.authorizationServerMetadata !== undefined) {
    const m = OAuthMetadataSchema.safeParse(o.authorizationServerMetadata);
    const oidc = m.success ? undefined : OpenIdProviderDiscoveryMetadataSchema.safeParse(o.authorizationServerMetadata);
    if (m.success) authorizationServerMetadata = m.data;
    else if (oidc?.success) authorizationServerMetadata = oidc.data;
    else return undefined;
  }
  let resourceMetadata: OAuthDiscoveryState['resourceMetadata'];
  if (o.resourceMetadata !== undefined) {
    const r = OAuthProtectedResourceMetadataSchema.safeParse(o.resourceMetadata);
    if (!r.success) return undefined;
    resourceMetadata = r.data;
  }
  const resourceMetadataUrl = str(o.resourceMetadataUrl);
  return {
    authorizationServerUrl: asUrl,
    ...(resourceMetadataUrl !== undefined ? { resourceMetadataUrl } : {}),
    ...(authorizationServerMetadata ? { authorizationServerMetadata } : {}),
    ...(resourceMetadata ? { resourceMetadata } : {}),
  };
}

function parseChallenge(v: unknown): ChallengeRecord | undefined {
  const o = obj(v);
  if (!o || typeof o.stepUp !== 'boolean' || typeof o.stepUps !== 'number' || typeof o.windowStart !== 'number') return undefined;
  const scope = str(o.scope);
  const resourceMetadataUrl = str(o.resourceMetadataUrl);
  return {
    stepUp: o.stepUp,
    stepUps: o.stepUps,
    windowStart: o.windowStart,
    ...(scope !== undefined ? { scope } : {}),
    ...(resourceMetadataUrl !== undefined ? { resourceMetadataUrl } : {}),
  };
}

/** Typed, bounded access to one upstream's OAuth records. */
export class UpstreamOAuthStore {
  constructor(
    private readonly secrets: EncryptedSecrets,
    readonly upstream: string,
  ) {
    checkUpstreamName(upstream);
  }

  private async read(principalKey: string, kind: RecordKind): Promise<unknown> {
    const raw = await this.secrets.get(recordName(this.upstream, principalKey, kind));
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return undefined;
    }
  }

  private async write(principalKey: string, kind: RecordKind, value: unknown): Promise<void> {
    const text = JSON.stringify(value);
    if (Buffer.byteLength(text, 'utf8') > RECORD_LIMITS[kind]) {
      throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${this.upstream}: OAuth ${kind} record exceeds ${RECORD_LIMITS[kind]} bytes`);
    }
    await this.secrets.set(recordName(this.upstream, principalKey, kind), text);
  }

  /** Deletes one record (no error when absent). */
  async delete(principalKey: string, kind: RecordKind): Promise<void> {
    await this.secrets.delete(recordName(this.upstream, principalKey, kind));
  }

  /** Deletes every record of the principal for this upstream. */
  async deleteAll(principalKey: string): Promise<void> {
    for (const kind of Object.keys(RECORD_LIMITS) as RecordKind[]) await this.delete(principalKey, kind);
  }

  async getTokens(principalKey: string): Promise<TokensRecord | undefined> {
    return parseTokens(await this.read(principalKey, 'tokens'));
  }
  async setTokens(principalKey: string, rec: TokensRecord): Promise<void> {
    await this.write(principalKey, 'tokens', rec);
  }

  async getClient(principalKey: string): Promise<StoredOAuthClientInformation | undefined> {
    return parseClient(await this.read(principalKey, 'client'));
  }
  async setClient(principalKey: string, info: StoredOAuthClientInformation): Promise<void> {
    await this.write(principalKey, 'client', info);
  }

  async getVerifier(principalKey: string): Promise<string | undefined> {
    return str(await this.read(principalKey, 'verifier'));
  }
  async setVerifier(principalKey: string, verifier: string): Promise<void> {
    await this.write(principalKey, 'verifier', verifier);
  }

  async getDiscovery(principalKey: string): Promise<OAuthDiscoveryState | undefined> {
    return parseDiscovery(await this.read(principalKey, 'discovery'));
  }
  async setDiscovery(principalKey: string, state: OAuthDiscoveryState): Promise<void> {
    await this.write(principalKey, 'discovery', state);
  }

  async getChallenge(principalKey: string): Promise<ChallengeRecord | undefined> {
    return parseChallenge(await this.read(principalKey, 'challenge'));
  }
  async setChallenge(principalKey: string, rec: ChallengeRecord): Promise<void> {
    await this.write(principalKey, 'challenge', rec);
  }
}
