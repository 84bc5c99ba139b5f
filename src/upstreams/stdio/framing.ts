/**
 * stdio framing (spec 2025-11-25 and 2026-07-28, basic/transports/stdio): one JSON-RPC message per
 * line, UTF-8, no embedded newlines. The reader never buffers more than one line's limit, so an
 * upstream that writes an endless line costs bounded memory; the writer keeps its own bounded
 * queue while the pipe applies backpressure, so a child that stops reading cannot grow the
 * gateway's heap without limit.
 */
import type { Readable, Writable } from 'node:stream';

const NL = 0x0a;

/**
 * Splits a byte stream into lines of at most `maxLineBytes` (newline excluded). A longer line is
 * reported once through `onOverflow` with its first `headBytes` bytes (default: the whole limit),
 * and the rest of it is discarded up to the next newline.
 */
export class LineSplitter {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onOverflow: (head: Buffer) => void,
    private readonly headBytes: number = maxLineBytes,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      if (this.pendingBytes + piece.length > this.maxLineBytes) {
        this.overflow(piece);
        this.discarding = false; // the newline ended the long line
        continue;
      }
      const line = this.chunks.length === 0 ? piece : Buffer.concat([...this.chunks, piece]);
      this.chunks = [];
      this.pendingBytes = 0;
      this.onLine(line);
    }
  }

  /** Delivers a final unterminated line, if any (the stream ended without a newline). */
  end(): void {
    if (!this.discarding && this.pendingBytes > 0) this.onLine(Buffer.concat(this.chunks));
    this.chunks = [];
    this.pendingBytes = 0;
    this.discarding = false;
  }

  private keep(rest: Buffer): void {
    if (this.discarding) return;
    if (this.pendingBytes + rest.length > this.maxLineBytes) {
      this.overflow(rest);
      return;
    }
    // Copy: the stream may reuse its chunk buffers, and a subarray would pin the whole chunk.
    this.chunks.push(Buffer.from(rest));
    this.pendingBytes += rest.length;
  }

  private overflow(tail: Buffer): void {
    // Copy only the reported head: for a 16 MB limit, concatenating the whole line would be waste.
    const parts: Buffer[] = [];
    let left = this.headBytes;
    for (const c of [...this.chunks, tail]) {
      if (left <= 0) break;
      const part = c.subarray(0, left);
      parts.push(part);
      left -= part.length;
    }
    const head = Buffer.concat(parts);
    this.chunks = [];
    this.pendingBytes = 0;
    this.discarding = true;
    this.onOverflow(head);
  }
}

/** Why a stdout line was not a message. */
export type FramingError = { kind: 'oversize'; limit: number } | { kind: 'invalid-json'; preview: string };

export interface NdjsonReaderHandlers {
  /** A parsed JSON value (not yet checked to be a JSON-RPC message). */
  onValue(v: unknown): void;
  onError(e: FramingError): void;
}

/**
 * Reads newline-delimited JSON from a stream. Blank lines are skipped (some servers emit them);
 * a trailing CR is tolerated. Returns a function that detaches the reader.
 */
export function readNdjson(stream: Readable, maxLineBytes: number, h: NdjsonReaderHandlers): () => void {
  const splitter = new LineSplitter(
    maxLineBytes,
    (line) => {
      let text = line.toString('utf8');
      if (text.endsWith('\r')) text = text.slice(0, -1);
      if (text.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        h.onError({ kind: 'invalid-json', preview: text.slice(0, 200) });
        return;
      }
      h.onValue(v);
    },
    () => h.onError({ kind: 'oversize', limit: maxLineBytes }),
    0,
  );
  const onData = (c: Buffer | string): void => splitter.push(typeof c === 'string' ? Buffer.from(c) : c);
  const onEnd = (): void => splitter.end();
  stream.on('data', onData);
  stream.on('end', onEnd);
  return () => {
    stream.off('data', onData);
    stream.off('end', onEnd);
  };
}

/** Thrown by NdjsonWriter.write when its queue is full or the stream is gone. */
export class WriterClosedError extends Error {}

/**
 * Writes one JSON value per line. While the stream reports backpressure (`write()` returned
 * false) further messages wait in a queue bounded by `maxQueuedBytes`; past that, `write()`
 * throws instead of buffering more.
 */
export class NdjsonWriter {
  private readonly queue: string[] = [];
  private queuedBytes = 0;
  private waitingForDrain = false;
  private dead = false;

  constructor(
    private readonly stream: Writable,
    private readonly maxQueuedBytes: number,
  ) {
    stream.on('drain', () => this.flush());
    const die = (): void => {
      this.dead = true;
      this.queue.length = 0;
      this.queuedBytes = 0;
    };
    stream.on('close', die);
    stream.on('error', die);
  }

  /** Bytes waiting for the pipe to drain. */
  get pending(): number {
    return this.queuedBytes;
  }

  write(value: unknown): void {
    if (this.dead || this.stream.destroyed || this.stream.writableEnded) throw new WriterClosedError('stdin is closed');
    // JSON.stringify escapes control characters inside strings, so the line never contains a raw newline.
    const line = `${JSON.stringify(value)}\n`;
    if (this.waitingForDrain) {
      const bytes = Buffer.byteLength(line);
      if (this.queuedBytes + bytes > this.maxQueuedBytes) throw new WriterClosedError('stdin write queue is full');
      this.queue.push(line);
      this.queuedBytes += bytes;
      return;
    }
    if (!this.stream.write(line)) this.waitingForDrain = true;
  }

  private flush(): void {
    this.waitingForDrain = false;
    while (this.queue.length > 0 && !this.dead) {
      const line = this.queue.shift() as string;
      this.queuedBytes -= Buffer.byteLength(line);
      if (!this.stream.write(line)) {
        this.waitingForDrain = true;
        return;
      }
    }
  }
}
