// Hand-drawn line charts on a canvas (no chart library, no CDN): a history of samples, one or more
// series, a round axis and a time axis.

const COLORS = { c1: '#7fb2ff', c2: '#ffb86b', c3: '#7ee2a8', c4: '#f58fd0' };
const GRID = '#2c3452';
const LABEL = '#aab2cb';

/** A round axis maximum (1, 2, 2.5 or 5 times a power of ten) at or above `v`. */
export function niceCeil(v) {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v - 1e-12) return m * e;
  return 10 * e;
}

/**
 * Draw `series` ([[colour, (metrics, status) => value], ...]) of `history` ([{t, status, metrics}])
 * over at least a minute and at most `maxSpanS`. Sets `canvas.dataset.points`.
 */
export function drawChart(canvas, series, history, maxSpanS) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const cw = w / dpr;
  const ch = h / dpr;
  g.clearRect(0, 0, cw, ch);
  const left = 44;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const pw = cw - left - right;
  const ph = ch - top - bottom;

  const values = series.map(([, f]) => history.map((e) => {
    const v = f(e.metrics || {}, e.status || {});
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }));
  let top_ = 0;
  for (const vs of values) for (const v of vs) if (v !== null && v > top_) top_ = v;
  const tick = niceCeil((top_ * 1.1) / 4);
  const max = tick * 4;
  // The time axis spans the history so far (at least a minute, at most maxSpanS seconds).
  const now = Date.now();
  const spanMs = Math.min(maxSpanS, Math.max(60, history.length ? (now - history[0].t) / 1000 : 60)) * 1000;
  const xOf = (t) => left + pw - ((now - t) / spanMs) * pw;

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = LABEL;
  g.strokeStyle = GRID;
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (let k = 0; k <= 4; k++) {
    const y = top + ph - (k / 4) * ph;
    g.beginPath();
    g.moveTo(left, Math.round(y) + 0.5);
    g.lineTo(left + pw, Math.round(y) + 0.5);
    g.stroke();
    const v = k * tick;
    g.fillText(Number.isInteger(v) ? v.toFixed(0) : v.toFixed(tick < 0.1 ? 2 : 1), left - 6, y);
  }
  g.textAlign = 'left';
  g.textBaseline = 'alphabetic';
  g.fillText(`-${Math.round(spanMs / 1000)} s`, left, ch - 4);
  g.textAlign = 'right';
  g.fillText('now', left + pw, ch - 4);

  let points = 0;
  if (!history.length) {
    g.textAlign = 'center';
    g.fillText('waiting for data…', left + pw / 2, top + ph / 2);
  }
  series.forEach(([color], si) => {
    const vs = values[si];
    g.strokeStyle = COLORS[color];
    g.lineWidth = 2;
    g.beginPath();
    let pen = false;
    vs.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      const x = xOf(history[i].t);
      const y = top + ph - (v / max) * ph;
      if (pen) g.lineTo(x, y);
      else g.moveTo(x, y);
      pen = true;
      points += 1;
    });
    g.stroke();
    // The latest value as a dot, so a single sample is visible too.
    const lastIdx = vs.length - 1;
    if (lastIdx >= 0 && vs[lastIdx] !== null) {
      g.fillStyle = COLORS[color];
      g.beginPath();
      g.arc(xOf(history[lastIdx].t), top + ph - (vs[lastIdx] / max) * ph, 3, 0, Math.PI * 2);
      g.fill();
    }
  });
  canvas.dataset.points = String(points);
}
