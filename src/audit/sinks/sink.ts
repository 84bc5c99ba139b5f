/**
 * What a remote sink does: deliver one batch (resolve = delivered, reject = retry later) and
 * release its connections. Implementations: webhook.ts, syslog.ts, file.ts.
 */
import type { SinkBatch } from './tail.js';

/** A delivery target for batches of one or more logs. */
export interface Sink {
  readonly name: string;
  /** Delivers one batch; rejects when it is not known to be delivered (the runner retries it). */
  deliver(batch: SinkBatch, signal: AbortSignal): Promise<void>;
  /** Closes connections and files; the sink is not used afterwards. */
  close(): Promise<void>;
}

/** The batch body every JSONL-speaking sink sends: the stored lines, each '\n'-terminated. */
export function jsonlBody(batch: SinkBatch): Buffer {
  return Buffer.from(batch.records.map((r) => `${r.line}\n`).join(''), 'utf8');
}
