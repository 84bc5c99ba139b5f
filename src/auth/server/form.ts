/**
 * Reads one `application/x-www-form-urlencoded` body of an interaction POST: at most 16 KB,
 * within a deadline, first value wins for a repeated field.
 */
import type { IncomingMessage } from 'node:http';

/** Largest interaction form body accepted. */
export const MAX_FORM_BYTES = 16 * 1024;
const READ_DEADLINE_MS = 10_000;

/** Why a body was refused, with the HTTP status to answer. */
export class FormError extends Error {
  constructor(
    readonly status: 400 | 408 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'FormError';
  }
}

/** Parses the body into field → first value. */
export async function readForm(req: IncomingMessage, maxBytes: number = MAX_FORM_BYTES): Promise<Map<string, string>> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new FormError(415, 'expected a form submission');
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw new FormError(413, 'form too large');
  const text = await readCapped(req, maxBytes);
  const out = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(text)) if (!out.has(k)) out.set(k, v);
  return out;
}

function readCapped(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err?: FormError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) {
        // Stop reading, but let the response go out: the socket is not ours to destroy.
        req.resume();
        reject(err);
      } else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (c: Buffer): void => {
      total += c.length;
      if (total > maxBytes) return finish(new FormError(413, 'form too large'));
      chunks.push(c);
    };
    const onEnd = (): void => finish();
    const onError = (): void => finish(new FormError(400, 'request aborted'));
    const timer = setTimeout(() => finish(new FormError(408, 'form not received in time')), READ_DEADLINE_MS);
    timer.unref();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
