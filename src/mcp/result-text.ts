/**
 * The JSON text of the result last written to a client, kept by identity for the bookkeeping
 * that runs right after the reply (handleCall: respond, then auditOutcome): the audit log's
 * result HMAC covers exactly the bytes the client received, without serialising the result a
 * second time. One slot: a lookup for any other object misses and the caller serialises.
 */
let lastResult: object | undefined;
let lastText = '';

export function rememberResultText(result: object, text: string): void {
  lastResult = result;
  lastText = text;
}

/** The text written for `result`, if it was the last result written; else undefined. */
export function resultTextOf(result: object): string | undefined {
  return result === lastResult ? lastText : undefined;
}
