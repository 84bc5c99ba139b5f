/**
 * One bounded HTTP exchange for the token code (JWKS and introspection): a hard deadline over
 * the whole exchange, a size cap enforced while reading, no redirects (an issuer endpoint that
 * redirects is a misconfiguration, and following it would widen where the gateway connects).
 */

/** Limits of one exchange. */
export interface HttpBounds {
  timeoutMs: number;
  maxBytes: number;
}

/** What came back: the status and the body as text. */
export interface BoundedResponse {
  status: number;
  body: string;
}

/** Raised when the exchange failed (network, timeout, size); the message never holds a body. */
export class HttpFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpFetchError';
  }
}

/** Performs the request and reads at most `maxBytes` of the answer within `timeoutMs`. */
export async function fetchBounded(url: string, init: RequestInit, bounds: HttpBounds): Promise<BoundedResponse> {
  const signal = AbortSignal.timeout(bounds.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal, redirect: 'error' });
  } catch (e) {
    throw new HttpFetchError('request failed', { cause: e });
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > bounds.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new HttpFetchError('response too large');
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > bounds.maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new HttpFetchError('response too large');
        }
        chunks.push(value);
      }
    }
  } catch (e) {
    if (e instanceof HttpFetchError) throw e;
    throw new HttpFetchError('reading the response failed', { cause: e });
  }
  return { status: res.status, body: Buffer.concat(chunks, total).toString('utf8') };
}

/** Parses a JSON object (not an array or scalar), or undefined. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
