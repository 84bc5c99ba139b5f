import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseByteSize, parseDuration } from '../../src/config/units.js';

test('parseDuration reads numbers and unit strings as milliseconds', () => {
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(250), 250);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('30d'), 30 * 86_400_000);
});

test('parseDuration rejects anything else', () => {
  for (const bad of ['5 min', '1w', '-1s', '', 's', '1.5s', '1234567890s']) {
    assert.throws(() => parseDuration(bad), RangeError, bad);
  }
  assert.throws(() => parseDuration(-1), RangeError);
  assert.throws(() => parseDuration(1.5), RangeError);
});

test('parseByteSize reads binary multiples, case-insensitively', () => {
  assert.equal(parseByteSize(1), 1);
  assert.equal(parseByteSize('100b'), 100);
  assert.equal(parseByteSize('512kb'), 512 * 1024);
  assert.equal(parseByteSize('1mb'), 1024 * 1024);
  assert.equal(parseByteSize('16MB'), 16 * 1024 * 1024);
});

test('parseByteSize rejects zero, negatives and other units', () => {
  for (const bad of ['0b', '1gb', '1 mb', '', 'kb']) assert.throws(() => parseByteSize(bad), RangeError, bad);
  assert.throws(() => parseByteSize(0), RangeError);
  assert.throws(() => parseByteSize(-5), RangeError);
});
