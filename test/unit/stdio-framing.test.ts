import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { LineSplitter, NdjsonWriter, readNdjson, WriterClosedError, type FramingError } from '../../src/upstreams/stdio/framing.js';
import { buildChildEnv } from '../../src/upstreams/stdio/env.js';

function split(max: number, chunks: string[]): { lines: string[]; overflows: string[] } {
  const lines: string[] = [];
  const overflows: string[] = [];
  const s = new LineSplitter(
    max,
    (l) => lines.push(l.toString()),
    (h) => overflows.push(h.toString()),
  );
  for (const c of chunks) s.push(Buffer.from(c));
  s.end();
  return { lines, overflows };
}

describe('LineSplitter', () => {
  it('splits lines across and within chunks', () => {
    assert.deepEqual(split(100, ['a\nb', 'c\n', 'd\ne\nf']).lines, ['a', 'bc', 'd', 'e', 'f']);
  });

  it('discards an over-long line up to the next newline and reports it once', () => {
    const r = split(5, ['ok\n123', '456', '789', 'abc\nnext\n']);
    assert.deepEqual(r.lines, ['ok', 'next']);
    assert.deepEqual(r.overflows, ['12345']);
  });

  it('reports an over-long line that arrives in one chunk', () => {
    const r = split(3, ['abcdef\nxy\n']);
    assert.deepEqual(r.lines, ['xy']);
    assert.deepEqual(r.overflows, ['abc']);
  });

  it('reports only headBytes of an over-long line', () => {
    const heads: string[] = [];
    const s = new LineSplitter(
      8,
      () => undefined,
      (h) => heads.push(h.toString()),
      3,
    );
    s.push(Buffer.from('ab'));
    s.push(Buffer.from('cdefghijkl\n'));
    assert.deepEqual(heads, ['abc']);
  });

  it('accepts a line of exactly the limit', () => {
    assert.deepEqual(split(3, ['abc\n']).lines, ['abc']);
  });

  it('never buffers more than the limit while a long line streams in', () => {
    const s = new LineSplitter(
      10,
      () => undefined,
      () => undefined,
    );
    for (let i = 0; i < 1000; i++) s.push(Buffer.alloc(1000, 0x61));
    assert.ok(((s as unknown as { pendingBytes: number }).pendingBytes) <= 10);
  });
});

describe('readNdjson', () => {
  it('parses values, skips blank lines, tolerates CRLF and reports invalid JSON', async () => {
    const stream = new PassThrough();
    const values: unknown[] = [];
    const errors: FramingError[] = [];
    readNdjson(stream, 1000, { onValue: (v) => values.push(v), onError: (e) => errors.push(e) });
    stream.write('{"a":1}\r\n\n  \nnot json\n{"b"');
    stream.end(':2}\n');
    await new Promise((r) => stream.on('end', r));
    assert.deepEqual(values, [{ a: 1 }, { b: 2 }]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.kind, 'invalid-json');
  });
});

describe('NdjsonWriter', () => {
  it('writes one line per message, even when strings contain newlines', () => {
    const out: string[] = [];
    const w = new NdjsonWriter(new Writable({ write: (c: Buffer, _e, cb) => (out.push(c.toString()), cb()) }), 1000);
    w.write({ text: 'a\nb\r\nc\u2028' });
    assert.equal(out.length, 1);
    assert.equal(out[0]?.split('\n').length, 2);
    assert.deepEqual(JSON.parse(out[0] as string), { text: 'a\nb\r\nc\u2028' });
  });

  it('queues under backpressure, keeps order, and refuses past its bound', async () => {
    const out: string[] = [];
    const callbacks: (() => void)[] = [];
    const sink = new Writable({
      highWaterMark: 1,
      write: (c: Buffer, _e, cb) => {
        out.push(c.toString());
        callbacks.push(cb);
      },
    });
    const w = new NdjsonWriter(sink, 30);
    w.write({ n: 1 }); // accepted by the stream, which now reports backpressure
    w.write({ n: 2 }); // queued
    w.write({ n: 3 }); // queued
    assert.ok(w.pending > 0);
    assert.throws(() => w.write({ n: 4, pad: 'x'.repeat(40) }), WriterClosedError);
    // Release the stream: the queue drains in order.
    for (let i = 0; i < 20 && out.length < 3; i++) {
      callbacks.splice(0).forEach((cb) => cb());
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(
      out.map((l) => (JSON.parse(l) as { n: number }).n),
      [1, 2, 3],
    );
    assert.equal(w.pending, 0);
  });

  it('throws once the stream is gone', () => {
    const sink = new PassThrough();
    const w = new NdjsonWriter(sink, 100);
    sink.destroy();
    assert.throws(() => w.write({}), WriterClosedError);
  });
});

describe('buildChildEnv', () => {
  it('inherits only allowlisted variables and adds explicit ones', () => {
    const env = buildChildEnv(['PATH', 'HOME', 'MISSING'], { FOO: 'bar', PATH: '/override' }, { PATH: '/bin', HOME: '/h', SECRET: 's', DATABASE_URL: 'x' });
    assert.deepEqual(env, { PATH: '/override', HOME: '/h', FOO: 'bar' });
  });

  it('does not consult the prototype chain', () => {
    const env = buildChildEnv(['toString', 'constructor'], {}, {});
    assert.deepEqual(Object.keys(env), []);
  });

  it('is case-sensitive', () => {
    assert.deepEqual(buildChildEnv(['path'], {}, { PATH: '/bin' }), {});
  });
});
