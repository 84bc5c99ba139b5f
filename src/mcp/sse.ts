/**
 * Server-Sent Events framing (WHATWG HTML, "server-sent events", event stream interpretation):
 * a streaming parser for upstream responses and a formatter for downstream streams.
 *
 * The parser never buffers more than `maxEventBytes` (UTF-8 bytes of the partial line plus the
 * current event's data and type), so a hostile upstream that never ends a line or an event cannot
 * grow memory without bound (security-checklist.md C3, C6).
 */

/** One dispatched event. `id` and `retry` are present only when this event's block set them. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

/** An event (or a single line) exceeded the parser's `maxEventBytes`. The parser is then unusable. */
export class SseTooLargeError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`SSE event exceeds ${limit} bytes`);
    this.name = 'SseTooLargeError';
    this.limit = limit;
  }
}

const LF = 0x0a;
const CR = 0x0d;
const RETRY_RE = /^[0-9]{1,15}$/; // 15 digits stay a safe integer; longer values are ignored

/**
 * Incremental SSE parser. Feed chunks with {@link SseParser.push}, which returns the events
 * completed by that chunk; call {@link SseParser.end} at end of stream. Handles LF, CR and CRLF
 * line ends (also a CRLF split across chunks), a leading BOM, and multi-byte UTF-8 split across
 * Buffer chunks. Per the spec, an event is dispatched only at a blank line and only when it had at
 * least one `data` line; an unterminated event at end of stream is discarded.
 */
export class SseParser {
  private readonly max: number;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private decoderDirty = false;
  private started = false;
  private skipLF = false;
  private failed = false;
  /** Partial line carried over from the previous chunk. */
  private pending = '';
  private pendingBytes = 0;
  private data: string[] = [];
  private dataBytes = 0;
  private eventType = '';
  private eventTypeBytes = 0;
  private blockId: string | undefined;
  private blockRetry: number | undefined;
  private lastId = '';
  private retryMs: number | undefined;

  constructor(opts: { maxEventBytes: number }) {
    if (!(opts.maxEventBytes > 0)) throw new RangeError('maxEventBytes must be positive');
    this.max = opts.maxEventBytes;
  }

  /** The stream's last event ID (WHATWG semantics: persists across events until an `id` field changes it). */
  get lastEventId(): string {
    return this.lastId;
  }

  /** The last valid `retry` value seen (reconnection time in ms), if any. */
  get retry(): number | undefined {
    return this.retryMs;
  }

  /** Parses one chunk; returns the events it completed. Throws {@link SseTooLargeError}. */
  push(chunk: string | Buffer): SseEvent[] {
    if (this.failed) throw new SseTooLargeError(this.max);
    let text: string;
    if (typeof chunk === 'string') {
      // Bytes left in the decoder cannot be completed by a string chunk: flush them (as U+FFFD).
      text = this.decoderDirty ? this.decoder.decode() + chunk : chunk;
      this.decoderDirty = false;
    } else {
      text = this.decoder.decode(chunk, { stream: true });
      this.decoderDirty = true;
    }
    const out: SseEvent[] = [];
    this.feed(text, out);
    return out;
  }

  /**
   * End of stream: flushes the decoder and discards any incomplete line or event (spec). Returns
   * the events that the flush completed (in practice none). The parser can then start a new stream.
   */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.failed) return out;
    if (this.decoderDirty) {
      this.feed(this.decoder.decode(), out);
      this.decoderDirty = false;
    }
    this.pending = '';
    this.pendingBytes = 0;
    this.resetEvent();
    this.started = false;
    this.skipLF = false;
    return out;
  }

  private feed(text: string, out: SseEvent[]): void {
    let i = 0;
    const len = text.length;
    if (len === 0) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    if (this.skipLF) {
      this.skipLF = false;
      if (i < len && text.charCodeAt(i) === LF) i++;
    }
    // Next CR / LF positions are cached so a chunk with many of one and none of the other stays linear.
    let nextCR = -2;
    let nextLF = -2;
    while (i < len) {
      if (nextCR !== -1 && nextCR < i) nextCR = text.indexOf('\r', i);
      if (nextLF !== -1 && nextLF < i) nextLF = text.indexOf('\n', i);
      let end: number;
      if (nextCR === -1) end = nextLF;
      else if (nextLF === -1) end = nextCR;
      else end = nextCR < nextLF ? nextCR : nextLF;
      if (end === -1) {
        this.appendPending(text.slice(i));
        return;
      }
      const piece = text.slice(i, end);
      let line: string;
      if (this.pending.length > 0) {
        this.appendPending(piece);
        line = this.pending;
        this.pending = '';
        this.pendingBytes = 0;
      } else {
        // A UTF-16 code unit is at most 3 UTF-8 bytes: only measure lines that might be too long.
        if (piece.length * 3 > this.max && Buffer.byteLength(piece, 'utf8') > this.max) this.fail();
        line = piece;
      }
      if (text.charCodeAt(end) === CR) {
        if (end + 1 < len) i = text.charCodeAt(end + 1) === LF ? end + 2 : end + 1;
        else {
          i = end + 1;
          this.skipLF = true; // a CRLF may be split across chunks
        }
      } else i = end + 1;
      this.line(line, out);
    }
  }

  private appendPending(s: string): void {
    if (s.length === 0) return;
    this.pendingBytes += Buffer.byteLength(s, 'utf8');
    if (this.pendingBytes > this.max) this.fail();
    this.pending += s;
  }

  private fail(): never {
    this.failed = true;
    this.pending = '';
    this.data = [];
    throw new SseTooLargeError(this.max);
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      const start = line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1;
      value = line.slice(start);
    }
    switch (field) {
      case 'data':
        this.dataBytes += Buffer.byteLength(value, 'utf8') + 1;
        if (this.dataBytes + this.eventTypeBytes > this.max) this.fail();
        this.data.push(value);
        break;
      case 'event':
        this.eventTypeBytes = Buffer.byteLength(value, 'utf8');
        if (this.dataBytes + this.eventTypeBytes > this.max) this.fail();
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\u0000')) {
          this.lastId = value;
          this.blockId = value;
        }
        break;
      case 'retry':
        if (RETRY_RE.test(value)) {
          this.retryMs = Number(value);
          this.blockRetry = this.retryMs;
        }
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0) {
      const e: SseEvent = { data: this.data.length === 1 ? this.data[0]! : this.data.join('\n') };
      if (this.eventType !== '') e.event = this.eventType;
      if (this.blockId !== undefined) e.id = this.blockId;
      if (this.blockRetry !== undefined) e.retry = this.blockRetry;
      out.push(e);
    }
    this.resetEvent();
  }

  private resetEvent(): void {
    this.data = [];
    this.dataBytes = 0;
    this.eventType = '';
    this.eventTypeBytes = 0;
    this.blockId = undefined;
    this.blockRetry = undefined;
  }
}

const LINE_BREAK_RE = /\r\n|\r|\n/;

function checkField(name: string, v: string): void {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === CR || c === LF || (c === 0 && name === 'id')) throw new TypeError(`SSE ${name} must not contain CR, LF${name === 'id' ? ' or NUL' : ''}`);
  }
}

/**
 * One SSE event as text, ending with the blank line that dispatches it. `data` is split on line
 * breaks into several `data:` lines; CR and CRLF count as line breaks in SSE, so they come back
 * as LF after parsing (JSON text never needs a raw CR). Throws TypeError when `id` or `event`
 * contains CR or LF (or `id` NUL), or `retry` is not a non-negative safe integer.
 */
export function formatSseEvent(e: SseEvent): string {
  let out = '';
  if (e.id !== undefined) {
    checkField('id', e.id);
    out += `id: ${e.id}\n`;
  }
  if (e.event !== undefined) {
    checkField('event', e.event);
    out += `event: ${e.event}\n`;
  }
  if (e.retry !== undefined) {
    if (!Number.isSafeInteger(e.retry) || e.retry < 0) throw new TypeError('SSE retry must be a non-negative integer');
    out += `retry: ${e.retry}\n`;
  }
  const data = e.data;
  if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) return `${out}data: ${data}\n\n`;
  for (const line of data.split(LINE_BREAK_RE)) out += `data: ${line}\n`;
  return out + '\n';
}

/** An SSE comment (e.g. a keep-alive): every line of `text` prefixed with `:`. Dispatches nothing. */
export function sseComment(text = ''): string {
  if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) return `:${text}\n`;
  let out = '';
  for (const line of text.split(LINE_BREAK_RE)) out += `:${line}\n`;
  return out;
}
