import test from 'node:test';
import assert from 'node:assert/strict';
import { RateMeter, utf8Length } from '../../auralis/web/rate_meter.js';

test('kbps is the bytes received over the window, and starts again on a new connection', () => {
  const m = new RateMeter({ windowMs: 5000, minSpanMs: 1000 });
  assert.equal(m.kbps(0), null);
  // 1,300 bytes every 100 ms = 13,000 B/s = 104 kbit/s
  for (let t = 0; t <= 10000; t += 100) m.add(1300, t);
  assert.ok(Math.abs(m.kbps(10000) - 104) < 104 * 0.03, m.kbps(10000));
  // Nothing for 2.5 s: half the window is empty.
  assert.ok(Math.abs(m.kbps(12500) - 52) < 52 * 0.05, m.kbps(12500));
  assert.equal(m.kbps(20000), 0);
  m.reset();
  m.add(1000, 30000);
  assert.equal(m.kbps(30500), null); // under a second of data
  assert.equal(m.total, 1300 * 101 + 1000);
});

test('text frames count as their UTF-8 bytes', () => {
  assert.equal(utf8Length('{"a":1}'), 7);
  assert.equal(utf8Length('é'), Buffer.byteLength('é'));
  assert.equal(utf8Length('C♯ min7'), Buffer.byteLength('C♯ min7'));
  assert.equal(utf8Length('𝄞'), 4);
});
