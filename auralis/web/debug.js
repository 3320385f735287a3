// Auralis /debug: one live feed (/api/feed, pushed by the server once a second to every viewer) drawn
// as tiles, charts and the raw JSON. In production the feed needs an operator token (?token=…).
// A refusal with Retry-After waits that long; other failures back off from 2 s to 30 s. The page
// says which.
import { drawChart } from './chart.js';
import { readFeed } from './feed.js';

const HISTORY = 300; // points: five minutes at one a second

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(window.location.search).get('token');
const history = []; // [{t, status, metrics}]
let failures = 0;
let samples = 0;

const CHARTS = [
  { id: 'chart-synthesis', series: [['c1', (m) => m.synthesis_latency_ms?.p50], ['c2', (m) => m.synthesis_latency_ms?.p95]] },
  { id: 'chart-network', series: [['c1', (m) => m.network_latency_ms?.p50], ['c2', (m) => m.network_latency_ms?.p95]] },
  { id: 'chart-e2e', series: [['c1', (m) => m.end_to_end_latency_ms?.p50], ['c2', (m) => m.end_to_end_latency_ms?.p95]] },
  { id: 'chart-buffer', series: [['c3', (m, s) => s.buffer_depth]] },
  { id: 'chart-connections', series: [['c3', (m, s) => s.active_connections]] },
  { id: 'chart-memory', series: [['c4', (m) => m.memory_usage_mb]] },
];

function setFeedStatus(state, text) {
  $('poll-status').dataset.state = state;
  $('poll-text').textContent = text;
}

function onSample(ev) {
  const { status, metrics } = ev;
  if (!status || !metrics) return;
  failures = 0;
  samples += 1;
  history.push({ t: Date.now(), status, metrics });
  if (history.length > HISTORY) history.shift();
  $('status-json').textContent = JSON.stringify(status, null, 2);
  $('metrics-json').textContent = JSON.stringify(metrics, null, 2);
  renderTiles(status, metrics, ev.rates_per_min || {}, ev.rate_window_s);
  const viewers = Number.isInteger(ev.viewers) ? ` · ${ev.viewers} viewer${ev.viewers === 1 ? '' : 's'}` : '';
  setFeedStatus('connected', `Live · updated ${new Date().toLocaleTimeString()}${viewers}`);
  document.body.dataset.samples = String(samples);
  drawAll();
}

async function run() {
  for (;;) {
    let waitS;
    try {
      await readFeed(window.fetch.bind(window), token, onSample);
      waitS = 1;
    } catch (err) {
      if (err.fatal) {
        setFeedStatus('disconnected', `Stopped: ${err.message}.`);
        return;
      }
      failures += 1;
      waitS = err.retryS || Math.min(30, 2 ** Math.min(failures, 5));
      const what = err.refused ? 'Backing off' : 'Feed failed';
      setFeedStatus(err.refused ? 'buffering' : 'disconnected', `${what}: ${err.message}. Next try in ${waitS} s.`);
    }
    await new Promise((r) => { setTimeout(r, waitS * 1000); });
  }
}

function fmtUptime(s) {
  if (!(s >= 0)) return '—';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}

function counter(id, total, rate, windowS) {
  $(id).textContent = String(total ?? '—');
  const r = $(`${id}-rate`);
  r.textContent = typeof rate === 'number' ? `${rate.toFixed(1)} / min (last ${Math.round(windowS)} s)` : 'rate: measuring…';
}

function renderTiles(s, m, rates, windowS) {
  const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : '—');
  $('t-uptime').textContent = fmtUptime(s.uptime_sec);
  $('t-connections').textContent = String(s.active_connections ?? '—');
  $('t-device').textContent = String(s.device ?? '—');
  $('t-soundfont').textContent = yesNo(s.soundfont_loaded);
  $('t-synthesis').textContent = yesNo(s.synthesis_active);
  counter('t-underruns', m.buffer_underruns, rates.buffer_underruns, windowS);
  counter('t-overflows', m.buffer_overflows, rates.buffer_overflows, windowS);
  counter('t-disconnects', m.disconnects, rates.disconnects, windowS);
}

function drawAll() {
  for (const chart of CHARTS) drawChart($(chart.id), chart.series, history, HISTORY);
}

window.addEventListener('resize', drawAll);
drawAll();
run();
