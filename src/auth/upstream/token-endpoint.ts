/**
 * One request to an OAuth token endpoint and the strict reading of its answer: bounded in time
 * and size, never redirected, JSON only, a Bearer `access_token` with a numeric `expires_in`.
 * Every failure is ERR_UPSTREAM_CREDENTIALS carrying the OAuth `error` code, never a token.
 */
import { Agent, request } from 'undici';
import { GatewayError } from '../../pipeline/errors.js';

/** The HTTP request the gateway sends (form-encoded body). */
export interface TokenHttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Larger answers fail. */
  maxBytes: number;
}

/** The raw answer; `body` is at most `maxBytes`. */
export interface TokenHttpResponse {
  status: number;
  contentType: string;
  body: string;
}

/** Sends a token request; a replaceable seam (tests, a future egress guard). Must not follow redirects. */
export type FetchToken = (req: TokenHttpRequest) => Promise<TokenHttpResponse>;

/** What a successful answer yields. */
export interface IssuedToken {
  accessToken: string;
  expiresInSec: number;
}

export const TOKEN_TIMEOUT_MS = 10_000;
export const TOKEN_MAX_BYTES = 64 * 1024;
const MAX_TOKEN_CHARS = 16 * 1024;
const MAX_DESCRIPTION = 200;

class OversizeError extends Error {}

// Our own agent: a global dispatcher someone configured with a redirect interceptor must not apply here.
let agent: Agent | undefined;
const tokenAgent = (): Agent => (agent ??= new Agent({ keepAliveTimeout: 10_000, connections: 16 }));

/** The default FetchToken: undici, one overall deadline, body read up to the cap. */
export const fetchTokenHttp: FetchToken = async (req) => {
  const signal = AbortSignal.timeout(req.timeoutMs);
  const res = await request(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    signal,
    dispatcher: tokenAgent(),
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
  });
  const drop = (): void => {
    res.body.on('error', () => {});
    res.body.destroy();
  };
  const ct = res.headers['content-type'];
  const contentType = (Array.isArray(ct) ? ct[0] : ct) ?? '';
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > req.maxBytes) {
    drop();
    throw new OversizeError();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    const b = c as Buffer;
    size += b.length;
    if (size > req.maxBytes) {
      drop();
      throw new OversizeError();
    }
    chunks.push(b);
  }
  return { status: res.statusCode, contentType, body: Buffer.concat(chunks).toString('utf8') };
};

/** An OAuth error code or description cut to a printable, bounded form. */
function clean(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const s = v.replace(/[^\x20-\x7e]/g, '?');
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Interprets a token endpoint answer (RFC 6749 §5.1/§5.2). */
export function parseTokenResponse(res: TokenHttpResponse, endpoint: string): IssuedToken {
  const fail = (why: string, detail: Record<string, unknown> = {}): GatewayError =>
    new GatewayError('ERR_UPSTREAM_CREDENTIALS', `Upstream token request failed: ${why}`, { detail: { tokenEndpoint: endpoint, status: res.status, ...detail } });
  if (res.status >= 300 && res.status < 400) throw fail(`the token endpoint redirected (HTTP ${res.status}); redirects are not followed`);
  const json = parseJson(res.body);
  if (res.status !== 200) {
    const error = clean(json?.error, MAX_DESCRIPTION);
    const description = clean(json?.error_description, MAX_DESCRIPTION);
    throw fail(`${error ?? 'error'} (HTTP ${res.status})`, { ...(error ? { error } : {}), ...(description ? { errorDescription: description } : {}) });
  }
  if (!json) throw fail('the token endpoint did not answer with a JSON object');
  const { access_token: token, token_type: type, expires_in: expiresIn } = json;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) {
    throw fail('the answer has no usable access_token');
  }
  if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') throw fail(`token_type ${clean(type, 40) ?? '(missing)'} is not Bearer`);
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) throw fail('the answer has no numeric expires_in');
  return { accessToken: token, expiresInSec: expiresIn };
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 §2.3.1 applies it to Basic credentials too). */
export const formEncode = (s: string): string => new URLSearchParams([['', s]]).toString().slice(1);

/** Client authentication and the form, as the configured method wants them. */
export function clientAuth(method: 'client_secret_basic' | 'client_secret_post', clientId: string, secret: string, form: URLSearchParams): Record<string, string> {
  if (method === 'client_secret_post') {
    form.set('client_id', clientId);
    form.set('client_secret', secret);
    return {};
  }
  return { authorization: `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`, 'utf8').toString('base64')}` };
}

/** Posts `form` to the endpoint and reads the answer; transport failures become ERR_UPSTREAM_CREDENTIALS. */
export async function requestToken(
  fetchToken: FetchToken,
  endpoint: string,
  form: URLSearchParams,
  authHeaders: Record<string, string>,
): Promise<IssuedToken> {
  let res: TokenHttpResponse;
  try {
    res = await fetchToken({
      url: endpoint,
      headers: { ...authHeaders, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      timeoutMs: TOKEN_TIMEOUT_MS,
      maxBytes: TOKEN_MAX_BYTES,
    });
  } catch (e) {
    const why = e instanceof OversizeError ? `the answer exceeds ${TOKEN_MAX_BYTES} bytes` : 'the token endpoint is unreachable or timed out';
    throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `Upstream token request failed: ${why}`, { detail: { tokenEndpoint: endpoint }, cause: e });
  }
  return parseTokenResponse(res, endpoint);
}
