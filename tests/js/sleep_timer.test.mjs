import test from 'node:test';
import assert from 'node:assert/strict';
import { SleepTimer, cleanMinutes, fadeOutCurve, formatRemaining } from '../../auralis/web/sleep_timer.js';

function clock(t = 1_000_000) {
  const c = { t, now: () => c.t };
  return c;
}

test('paused time does not count: hold keeps the remaining time, resume counts on from there', () => {
  const c = clock();
  const s = new SleepTimer({ now: c.now });
  s.set(15, true);
  c.t += 60_000;
  assert.equal(s.remaining(), 14 * 60_000);
  s.hold();
  c.t += 10 * 60_000; // ten minutes paused
  assert.equal(s.state, 'held');
  assert.equal(s.remaining(), 14 * 60_000);
  s.resume();
  c.t += 1000;
  assert.equal(s.remaining(), 14 * 60_000 - 1000);
  assert.equal(s.minutes, 15);
});

test('set while nothing plays: it waits for the music', () => {
  const c = clock();
  const s = new SleepTimer({ now: c.now });
  s.set(5, false);
  c.t += 60_000;
  assert.equal(s.remaining(), 5 * 60_000);
  s.resume();
  c.t += 5 * 60_000;
  assert.ok(s.due());
  s.finish();
  assert.equal(s.state, 'ended');
  s.acknowledge();
  assert.equal(s.state, 'off');
});

test('a reload keeps it: stored with its end time, restored held with the time left', () => {
  const c = clock();
  const s = new SleepTimer({ now: c.now });
  s.set(30, true);
  c.t += 5 * 60_000;
  const text = JSON.stringify(s.toJSON());
  assert.ok(JSON.parse(text).endsAt > c.t);
  c.t += 2000; // the reload
  const r = new SleepTimer({ now: c.now });
  r.restore(text);
  assert.equal(r.state, 'held');
  assert.equal(r.minutes, 30);
  assert.equal(r.remaining(), 25 * 60_000 - 2000);
  // An end already past, or garbage, restores nothing.
  c.t += 60 * 60_000;
  r.restore(text);
  assert.equal(r.state, 'off');
  r.restore('{"minutes": "x"}');
  assert.equal(r.state, 'off');
  r.restore('not json');
  assert.equal(r.state, 'off');
});

test('custom lengths, the fade length and the countdown text', () => {
  assert.equal(cleanMinutes('25'), 25);
  assert.equal(cleanMinutes(' 0.1 '), 0.1);
  assert.equal(cleanMinutes('0'), null);
  assert.equal(cleanMinutes('abc'), null);
  assert.equal(cleanMinutes(100000), null);
  const s = new SleepTimer();
  s.set(0.1, true);
  assert.equal(s.fadeS, 3, 'a 6 s timer fades over its second half');
  s.set(90, true);
  assert.equal(s.fadeS, 60);
  assert.equal(formatRemaining(14 * 60_000 + 5_000), '14:05');
  assert.equal(formatRemaining(2 * 3600_000 + 61_000), '2:01:01');
});

test('the sleep fade is a smooth curve from full volume to silence', () => {
  const c = fadeOutCurve(128);
  assert.equal(c[0], 1);
  assert.ok(Math.abs(c[127]) < 1e-12);
  for (let i = 1; i < c.length; i++) {
    assert.ok(c[i] <= c[i - 1], 'monotone');
    assert.ok(c[i - 1] - c[i] < 0.03, 'no step larger than 3% of full scale');
  }
});
