import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SseParser, SseTooLargeError, formatSseEvent, sseComment, type SseEvent } from '../../src/mcp/sse.js';

const MAX = 1 << 20;

function parseAll(chunks: (string | Buffer)[], max = MAX): { events: SseEvent[]; parser: SseParser } {
  const parser = new SseParser({ maxEventBytes: max });
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...parser.push(c));
  events.push(...parser.end());
  return { events, parser };
}

/**
 * Splits `s` at the given cut points (positions taken modulo length, deduplicated). Strings are
 * never cut inside a surrogate pair (a decoder never produces such chunks); Buffers anywhere.
 */
function cut<T extends string | Buffer>(s: T, cuts: number[]): T[] {
  const n = s.length;
  const inPair = (p: number) => typeof s === 'string' && p > 0 && p < n && /[\ud800-\udbff]/.test(s[p - 1]!) && /[\udc00-\udfff]/.test(s[p]!);
  const points = [...new Set(cuts.map((c) => (n === 0 ? 0 : c % (n + 1))).map((p) => (inPair(p) ? p + 1 : p)))].sort((a, b) => a - b);
  const out: T[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(s.slice(prev, p) as T);
    prev = p;
  }
  out.push(s.slice(prev) as T);
  return out;
}

test('WHATWG basics: fields, comments, leading space, multi-line data', () => {
  const { events, parser } = parseAll([
    ': keep-alive\n',
    'event: message\nid: 1\ndata: {"a":1}\n\n',
    'data:no-space\ndata:  two spaces\n\n',
    'data\n\n', // field without colon: empty data line dispatches ""
    'id: 7\nretry: 1500\n\n', // no data: not dispatched, but tracked
    'retry: soon\nunknown: x\ndata: last\n\n',
  ]);
  assert.deepEqual(events, [
    { event: 'message', id: '1', data: '{"a":1}' },
    { data: 'no-space\n two spaces' },
    { data: '' },
    { data: 'last' },
  ]);
  assert.equal(parser.lastEventId, '7');
  assert.equal(parser.retry, 1500);
});

test('CR, LF and CRLF line ends, including CRLF split across chunks', () => {
  const want = [{ data: 'a' }, { data: 'b\nc' }, { data: 'd' }];
  assert.deepEqual(parseAll(['data: a\r\rdata: b\r\ndata: c\r\n\r\ndata: d\n\n']).events, want);
  assert.deepEqual(parseAll(['data: a\r', '\r', 'data: b\r', '\ndata: c\r', '\n\r', '\ndata: d\n', '\n']).events, want);
  // a lone CR at a chunk end followed by a non-LF character
  assert.deepEqual(parseAll(['data: x\r', 'data: y\r', '\r']).events, [{ data: 'x\ny' }]);
});

test('BOM at stream start is skipped once', () => {
  assert.deepEqual(parseAll(['\ufeffdata: a\n\n']).events, [{ data: 'a' }]);
  assert.deepEqual(parseAll([Buffer.from([0xef, 0xbb]), Buffer.from([0xbf]), 'data: a\n\n']).events, [{ data: 'a' }]);
  // a second BOM is a character of the field name, so that line is an unknown field
  assert.deepEqual(parseAll(['\ufeff\ufeffdata: a\n\ndata: b\n\n']).events, [{ data: 'b' }]);
});

test('multi-byte UTF-8 split across Buffer chunks', () => {
  const bytes = Buffer.from('data: héllo 世界 🎉\n\n', 'utf8');
  for (let i = 0; i <= bytes.length; i++) {
    const { events } = parseAll([bytes.subarray(0, i), bytes.subarray(i)]);
    assert.deepEqual(events, [{ data: 'héllo 世界 🎉' }]);
  }
  const { events } = parseAll([...bytes].map((b) => Buffer.from([b])));
  assert.deepEqual(events, [{ data: 'héllo 世界 🎉' }]);
});

test('incomplete event at end of stream is discarded', () => {
  assert.deepEqual(parseAll(['data: a\n\ndata: b\n']).events, [{ data: 'a' }]);
  assert.deepEqual(parseAll(['data: a\n\ndata: b']).events, [{ data: 'a' }]);
});

test('id with NUL is ignored; empty id resets lastEventId', () => {
  const { events, parser } = parseAll(['id: 5\ndata: a\n\nid: x\u0000y\ndata: b\n\nid\ndata: c\n\n']);
  assert.deepEqual(events, [{ id: '5', data: 'a' }, { data: 'b' }, { id: '', data: 'c' }]);
  assert.equal(parser.lastEventId, '');
});

test('oversize events throw SseTooLargeError without unbounded buffering', () => {
  const p = new SseParser({ maxEventBytes: 64 });
  assert.deepEqual(p.push('data: ' + 'x'.repeat(40) + '\n\n'), [{ data: 'x'.repeat(40) }]);
  // many data lines, each small: the sum is what counts
  assert.throws(() => p.push('data: 0123456789\n'.repeat(10)), SseTooLargeError);
  assert.throws(() => p.push('data: a\n\n'), SseTooLargeError, 'parser stays failed');

  // a line that never ends, fed in small chunks, fails as soon as it passes the limit
  const q = new SseParser({ maxEventBytes: 100 });
  let pushed = 0;
  assert.throws(() => {
    for (let i = 0; i < 1000; i++) {
      q.push('yyyyyyyyyy');
      pushed++;
    }
  }, SseTooLargeError);
  assert.ok(pushed <= 10);

  // limit is in UTF-8 bytes, not characters
  const r = new SseParser({ maxEventBytes: 30 });
  assert.throws(() => r.push('data: ' + '世'.repeat(10) + '\n'), SseTooLargeError);

  // comment keep-alives without blank lines do not accumulate
  const k = new SseParser({ maxEventBytes: 32 });
  for (let i = 0; i < 200; i++) k.push(sseComment());
  assert.deepEqual(k.push('data: ok\n\n'), [{ data: 'ok' }]);
});

test('formatSseEvent and sseComment', () => {
  assert.equal(formatSseEvent({ data: '{"x":1}' }), 'data: {"x":1}\n\n');
  assert.equal(formatSseEvent({ id: '3', event: 'message', retry: 1000, data: 'a\nb' }), 'id: 3\nevent: message\nretry: 1000\ndata: a\ndata: b\n\n');
  assert.equal(formatSseEvent({ data: 'a\r\nb\rc' }), 'data: a\ndata: b\ndata: c\n\n');
  assert.throws(() => formatSseEvent({ id: 'a\nb', data: '' }), TypeError);
  assert.throws(() => formatSseEvent({ id: 'a\u0000b', data: '' }), TypeError);
  assert.throws(() => formatSseEvent({ event: 'a\rb', data: '' }), TypeError);
  assert.throws(() => formatSseEvent({ retry: -1, data: '' }), TypeError);
  assert.equal(sseComment(), ':\n');
  assert.equal(sseComment('ping'), ':ping\n');
  assert.equal(sseComment('a\nb'), ':a\n:b\n');
  assert.deepEqual(parseAll([sseComment('x\r\ny') + formatSseEvent({ data: 'z' })]).events, [{ data: 'z' }]);
});

const noBreak = fc.string({ unit: 'binary', maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, '').replaceAll('\u0000', ''));
const anyText = fc.string({ unit: fc.constantFrom('a', ' ', ':', '\r', '\n', 'é', '世', '🎉', '\ufeff', 'd'), maxLength: 40 });
const event = fc.record(
  {
    id: noBreak,
    event: noBreak.filter((s) => s.length > 0),
    retry: fc.nat({ max: 1e9 }),
    data: fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), anyText),
  },
  { requiredKeys: ['data'] },
);

/** Expected parse of a formatted event: CR and CRLF in data become LF. */
const expected = (e: SseEvent): SseEvent => ({ ...e, data: e.data.replace(/\r\n|\r/g, '\n') });

test('property: format → parse round trip under arbitrary string chunkings', () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (events, cuts) => {
      const text = events.map(formatSseEvent).join(sseComment('keep-alive'));
      const { events: got } = parseAll(cut(text, cuts));
      assert.deepEqual(got, events.map(expected));
    }),
    { numRuns: 400 },
  );
});

test('property: format → parse round trip under arbitrary byte chunkings', () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (events, cuts) => {
      const bytes = Buffer.from(events.map(formatSseEvent).join(''), 'utf8');
      const { events: got } = parseAll(cut(bytes, cuts));
      assert.deepEqual(got, events.map(expected));
    }),
    { numRuns: 400 },
  );
});

test('property: chunking never changes the result, and arbitrary input never throws anything but SseTooLargeError', () => {
  fc.assert(
    fc.property(fc.oneof(anyText, fc.string({ unit: 'binary', maxLength: 80 })), fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (text, cuts, max) => {
      const run = (chunks: string[]) => {
        try {
          return parseAll(chunks, max).events;
        } catch (err) {
          assert.ok(err instanceof SseTooLargeError);
          return 'too-large';
        }
      };
      assert.deepEqual(run(cut(text, cuts)), run([text]));
    }),
    { numRuns: 500 },
  );
});
