/**
 * A remote sink's delivery cursor, `logs/<logId>/sinks/<sink>.cursor`: the next seq to deliver
 * and where its line starts. Written with write-temp, fsync, rename, fsync-dir after every
 * delivered batch, so a restart re-sends at most the batch in flight (at-least-once).
 */
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the next record to deliver is. */
export interface SinkCursor {
  /** The next seq to deliver (every seq below it was delivered). */
  seq: number;
  /** firstSeq of the segment holding `seq` (its file name). */
  segment: number;
  /** Byte offset of that record's line within the segment. */
  offset: number;
}

const NAME = /^[a-zA-Z0-9_-]{1,32}$/;

/** Path of a sink's cursor file; refuses names that are not a plain file name. */
export function cursorPath(logDir: string, sink: string): string {
  if (!NAME.test(sink)) throw new Error(`invalid sink name ${JSON.stringify(sink.slice(0, 40))}`);
  return join(logDir, 'sinks', `${sink}.cursor`);
}

/** Reads a cursor; undefined when the sink never delivered anything from this log. */
export async function readCursor(logDir: string, sink: string): Promise<SinkCursor | undefined> {
  let text: string;
  try {
    text = await readFile(cursorPath(logDir, sink), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const c = JSON.parse(text) as Partial<SinkCursor>;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!ok(c.seq) || !ok(c.segment) || !ok(c.offset)) throw new Error(`corrupt sink cursor ${cursorPath(logDir, sink)}`);
  return { seq: c.seq, segment: c.segment, offset: c.offset };
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Persists a cursor durably (fsync of the file and of its directory). */
export async function writeCursor(logDir: string, sink: string, c: SinkCursor): Promise<void> {
  const path = cursorPath(logDir, sink);
  const dir = join(logDir, 'sinks');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, `${JSON.stringify(c)}\n`, { mode: 0o600 });
  await fsyncPath(tmp);
  await rename(tmp, path);
  await fsyncPath(dir);
}
