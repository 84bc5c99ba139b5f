/**
 * `portcullis audit export`: streams one log's records in a seq or time range as JSONL (the
 * stored canonical lines, byte for byte), OCSF (one event object per line) or CEF (one line per
 * record), then one trailer that states the batch: (log, first_seq, last_seq, count, checkpoint).
 */
import { checkpointCovering, readRecords, type CheckpointRef, type RecordRange } from './segments.js';
import { cefHeader, cefValue, toCef } from './cef.js';
import { ocsfLine, toOcsf } from './ocsf.js';

/** Export formats. */
export const EXPORT_FORMATS = ['jsonl', 'ocsf', 'cef'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What the trailer states about the exported batch. */
export interface ExportBatch {
  log: string | null;
  first_seq: number | null;
  last_seq: number | null;
  count: number;
  /** The smallest checkpoint covering last_seq, or null when the tail is not signed yet. */
  checkpoint: CheckpointRef | null;
}

/** Export options. */
export interface ExportOptions {
  logDir: string;
  format: ExportFormat;
  range: RecordRange;
  productVersion: string;
  /** Receives each output line (without '\n'); may return a promise to apply back-pressure. */
  write(line: string): void | Promise<void>;
}

/**
 * A `--from`/`--to` bound: a non-negative integer is a seq, anything else must be an ISO 8601
 * instant. Returns the range fields it sets.
 */
export function parseBound(v: string, side: 'from' | 'to'): RecordRange {
  if (/^\d{1,16}$/.test(v)) {
    const n = Number(v);
    return side === 'from' ? { fromSeq: n } : { toSeq: n };
  }
  if (!/^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(v)) throw new RangeError(`--${side}: expected a seq number or an ISO 8601 time, got ${JSON.stringify(v.slice(0, 64))}`);
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new RangeError(`--${side}: invalid time ${JSON.stringify(v)}`);
  return side === 'from' ? { fromTime: t } : { toTime: t };
}

/** The trailer line of a batch in a format. JSONL and OCSF: a JSON object under `portcullis_export`; CEF: a CEF event. */
export function trailerLine(format: ExportFormat, b: ExportBatch, productVersion: string): string {
  if (format !== 'cef') return JSON.stringify({ portcullis_export: { format, ...b } });
  const pairs: [string, string][] = [['cs1Label', 'log'], ['cs1', b.log ?? '']];
  if (b.first_seq !== null && b.last_seq !== null) pairs.push(['cn1Label', 'first_seq'], ['cn1', String(b.first_seq)], ['cn2Label', 'last_seq'], ['cn2', String(b.last_seq)]);
  if (b.checkpoint) pairs.push(['cn3Label', 'checkpoint_size'], ['cn3', String(b.checkpoint.size)], ['cs2Label', 'checkpoint_root'], ['cs2', b.checkpoint.root]);
  pairs.push(['cnt', String(b.count)]);
  const ext = pairs.map(([k, v]) => `${k}=${cefValue(v)}`).join(' ');
  return `CEF:0|Portcullis|Portcullis|${cefHeader(productVersion)}|audit.export|Audit export batch|0|${ext}`;
}

/** Runs one export; returns the batch statement that was written as the trailer. */
export async function exportLog(o: ExportOptions): Promise<ExportBatch> {
  const batch: ExportBatch = { log: null, first_seq: null, last_seq: null, count: 0, checkpoint: null };
  for await (const r of readRecords(o.logDir, o.range)) {
    if (batch.log === null) batch.log = r.log;
    else if (r.log !== batch.log) throw new Error(`record seq ${r.seq} names log ${JSON.stringify(r.log)}, not ${JSON.stringify(batch.log)}: run portcullis audit verify`);
    batch.first_seq ??= r.seq;
    batch.last_seq = r.seq;
    batch.count++;
    const line = o.format === 'jsonl' ? r.line : o.format === 'ocsf' ? ocsfLine(toOcsf(r, o.productVersion)) : toCef(r, o.productVersion);
    await o.write(line);
  }
  if (batch.last_seq !== null) batch.checkpoint = (await checkpointCovering(o.logDir, batch.last_seq)) ?? null;
  await o.write(trailerLine(o.format, batch, o.productVersion));
  return batch;
}
