/**
 * What an upstream's refusal means for the next authorization: the `WWW-Authenticate` challenge
 * of a 401 (no or bad token: authorize again, with the challenged scope) or of a 403
 * `insufficient_scope` (step-up: ask for the union of what was granted and what is now required).
 * Step-ups are bounded, and a step-up for scopes the current token already has is refused: the
 * authorization server would grant the same and the upstream would refuse again (SEP-835).
 */
import { computeScopeUnion, extractWWWAuthenticateParams } from '@modelcontextprotocol/client';
import type { ChallengeRecord } from './store.js';

/** At most this many step-ups (or futile 403s) per principal within STEP_UP_WINDOW_MS. */
export const MAX_STEP_UPS = 3;
export const STEP_UP_WINDOW_MS = 10 * 60_000;
const MAX_CHALLENGE_CHARS = 4096;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/;

/** What to do after the upstream refused a request. */
export interface ChallengeDecision {
  /** True when a new authorization may help; false when it would loop. */
  reauthorize: boolean;
  /** Scope the next `begin` asks for. */
  scope?: string;
}

/** The parts of a challenge the client uses, validated (absent when malformed or oversized). */
export interface ParsedChallenge {
  error?: string;
  scope?: string;
  resourceMetadataUrl?: string;
}

/** Parses a `WWW-Authenticate` value with the SDK's parser, bounded and validated. */
export function parseChallenge(header: string | null | undefined): ParsedChallenge {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_CHALLENGE_CHARS) return {};
  const p = extractWWWAuthenticateParams(new Response(null, { status: 401, headers: { 'www-authenticate': header } }));
  const scope = p.scope && p.scope.length <= 1000 && SCOPE.test(p.scope) ? p.scope : undefined;
  const rmu = p.resourceMetadataUrl && /^https?:$/.test(p.resourceMetadataUrl.protocol) && p.resourceMetadataUrl.href.length <= 2048 ? p.resourceMetadataUrl.href : undefined;
  return { ...(p.error ? { error: p.error } : {}), ...(scope ? { scope } : {}), ...(rmu ? { resourceMetadataUrl: rmu } : {}) };
}

const scopeSet = (s: string | undefined): Set<string> => new Set((s ?? '').split(' ').filter(Boolean));

/** The outcome of one challenge: the record to store and the decision to return. */
export interface ChallengeOutcome {
  record: ChallengeRecord;
  decision: ChallengeDecision;
  /** 403 insufficient_scope (tokens are kept) rather than 401 (tokens are dropped). */
  stepUp: boolean;
  /** Step-up refused because the token already has every required scope. */
  futile: boolean;
}

/**
 * Decides on a challenge. `status` may be omitted: insufficient_scope then marks a step-up
 * (RFC 6750 pairs it with 403). `granted` is the current token's scope.
 */
export function decideChallenge(o: { challenge: ParsedChallenge; status?: number; prev?: ChallengeRecord; granted?: string; now: number }): ChallengeOutcome {
  const { challenge: c, prev, now } = o;
  const inWindow = prev !== undefined && now - prev.windowStart < STEP_UP_WINDOW_MS;
  const stepUps = inWindow ? prev.stepUps : 0;
  const windowStart = inWindow ? prev.windowStart : now;
  const rmu = c.resourceMetadataUrl ? { resourceMetadataUrl: c.resourceMetadataUrl } : {};

  if (c.error === 'insufficient_scope' && (o.status === undefined || o.status === 403)) {
    const have = scopeSet(o.granted);
    const futile = c.scope !== undefined && [...scopeSet(c.scope)].every((s) => have.has(s));
    const union = computeScopeUnion(o.granted, inWindow && prev.stepUp ? prev.scope : undefined, c.scope);
    const scope = union ? { scope: union } : {};
    const record: ChallengeRecord = { ...scope, ...rmu, stepUp: true, stepUps: stepUps + 1, windowStart };
    return { record, stepUp: true, futile, decision: { reauthorize: !futile && stepUps + 1 <= MAX_STEP_UPS, ...scope } };
  }
  const scope = c.scope ? { scope: c.scope } : {};
  return { record: { ...scope, ...rmu, stepUp: false, stepUps, windowStart }, stepUp: false, futile: false, decision: { reauthorize: true, ...scope } };
}
