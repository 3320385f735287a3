import test from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../auralis/web/connection.js';

test('reconnect delays start at 100 ms, double, and stop at 5 s', () => {
  const b = new Backoff();
  const delays = Array.from({ length: 9 }, () => b.next());
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  assert.equal(b.attempts, 9);
});

test('a successful connection starts the sequence again', () => {
  const b = new Backoff();
  b.next();
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
  assert.equal(b.next(), 200);
});

test('custom bounds are respected', () => {
  const b = new Backoff({ initialMs: 250, maxMs: 1000, factor: 3 });
  assert.deepEqual([b.next(), b.next(), b.next()], [250, 750, 1000]);
});
