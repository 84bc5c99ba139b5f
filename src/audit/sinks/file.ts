/**
 * File sink: appends each batch's stored JSONL lines to another file and fdatasyncs it, e.g. a
 * path on a separate volume or one a log shipper tails. Delivered = synced.
 */
import { open } from 'node:fs/promises';
import type { Sink } from './sink.js';
import { jsonlBody } from './sink.js';

/** A file sink appending to `path` (created 0600). */
export function fileSink(o: { name: string; path: string }): Sink {
  return {
    name: o.name,
    async deliver(batch): Promise<void> {
      const fh = await open(o.path, 'a', 0o600);
      try {
        await fh.write(jsonlBody(batch));
        await fh.datasync();
      } finally {
        await fh.close();
      }
    },
    async close(): Promise<void> {},
  };
}
