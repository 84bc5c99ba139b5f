/**
 * CallCancel, the pipeline's cancellation: the same observable behaviour as an AbortController's
 * signal for the listeners the call path adds, and a real AbortSignal on demand, before or after
 * the cancellation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CallCancel } from '../../src/pipeline/context.js';

describe('CallCancel', () => {
  it('runs each listener once on abort, skips removed ones, and a throwing listener does not stop the rest', () => {
    const c = new CallCancel();
    const seen: string[] = [];
    const a = (): void => void seen.push('a');
    const b = (): void => void seen.push('b');
    c.addEventListener('abort', () => {
      throw new Error('listener failure');
    });
    c.addEventListener('abort', a, { once: true });
    c.addEventListener('abort', b);
    c.removeEventListener('abort', b);
    assert.equal(c.aborted, false);
    c.abort();
    c.abort();
    assert.equal(c.aborted, true);
    assert.deepEqual(seen, ['a']);
    c.addEventListener('abort', b);
    assert.deepEqual(seen, ['a'], 'a listener added after the cancellation never runs (as with an AbortSignal)');
  });

  it('a listener removed by an earlier one while the cancellation is dispatched does not run (as with EventTarget)', () => {
    const c = new CallCancel();
    const seen: string[] = [];
    const second = (): void => void seen.push('second');
    c.addEventListener('abort', () => {
      seen.push('first');
      c.removeEventListener('abort', second);
    });
    c.addEventListener('abort', second);
    c.abort();
    assert.deepEqual(seen, ['first']);
  });

  it('builds its AbortSignal only when asked, and that signal follows the cancellation either way round', () => {
    const early = new CallCancel();
    const s = early.signal;
    assert.equal(early.signal, s, 'one signal per call');
    let fired = 0;
    s.addEventListener('abort', () => fired++);
    assert.equal(s.aborted, false);
    early.abort();
    assert.equal(s.aborted, true);
    assert.equal(fired, 1);

    const late = new CallCancel();
    late.abort();
    assert.equal(late.signal.aborted, true, 'a signal asked for after the cancellation is already aborted');
  });
});
