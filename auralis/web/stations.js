// Stations: the shared streams the server lists (GET /api/stations), with live listener counts.
// A station plays in an <audio> element, which browsers keep playing on a locked phone (they
// suspend Web Audio there). "My stream" (the steerable personal stream) stays the default: a
// station plays only when chosen, and choosing either one stops the other. A station the server
// publishes as HLS (its `urls.hls`) can also play through HLS (hls_player.js), the way a CDN
// would deliver it.

import { attachHls as defaultAttachHls } from './hls_player.js';

export const STATIONS_REFRESH_MS = 5000;

/** The station's URL this browser can play: Ogg Opus where supported, else MP3. */
export function stationSource(station, canPlayType) {
  const ogg = canPlayType('audio/ogg; codecs="opus"');
  return ogg === 'probably' || ogg === 'maybe' ? station.urls.ogg : station.urls.mp3;
}

export function listenersText(n) {
  return n === 1 ? '1 listener' : `${n} listeners`;
}

/** Lock-screen title: the station and, once known, its chord. */
export function stationTitle(station) {
  return station.chord ? `${station.name} — ${station.chord}` : station.name;
}

export class Stations {
  /**
   * list: the <ul> to fill; audio: the <audio> element; fetchJson(url) -> the parsed answer;
   * onStart(): called before a station starts (pauses My stream); onChange(): state changed;
   * attachHls(audio, url, opts) -> { mode, detach } (hls_player.js).
   */
  constructor({ list, audio, fetchJson, onStart, onChange, attachHls = defaultAttachHls }) {
    this.list = list;
    this.audio = audio;
    this.fetchJson = fetchJson;
    this.onStart = onStart;
    this.onChange = onChange || (() => {});
    this.items = [];
    this.current = null; // the chosen station's name (playing or paused)
    this.via = 'stream'; // how it plays: 'stream' (Ogg/MP3) or 'hls'
    this.hlsMode = null; // 'native' or 'hls.js' while HLS plays
    this.attachHls = attachHls;
    this._detach = null; // stops the HLS player
    this.avoidNativeHls = false; // the native HLS player failed once: hls.js from then on
    this.error = null;
    audio.addEventListener('playing', () => this.onChange());
    audio.addEventListener('pause', () => this.onChange());
    audio.addEventListener('error', () => {
      if (this.current && this.via === 'hls' && this.hlsMode === 'native' && !this.avoidNativeHls) {
        // The browser's own HLS player failed (Chromium's is new): hls.js takes over, once.
        this.avoidNativeHls = true;
        this.play(this.current, 'hls');
        return;
      }
      if (this.current) this.error = `Station ${this.current} could not play`;
      this.render();
      this.onChange();
    });
  }

  get playing() {
    return this.current !== null && !this.audio.paused;
  }

  station(name) {
    return this.items.find((s) => s.name === name) || null;
  }

  async refresh() {
    try {
      const data = await this.fetchJson('/api/stations');
      this.items = Array.isArray(data.stations) ? data.stations : [];
    } catch {
      return; // the next refresh tries again
    }
    this.render();
    this.onChange();
  }

  /** Play station `name` as an HTTP stream (via 'stream') or through HLS (via 'hls'). */
  async play(name, via = 'stream') {
    const st = this.station(name);
    if (!st) return;
    await this.onStart();
    this._detachHls();
    this.error = null;
    this.current = name;
    this.via = via === 'hls' && st.urls && st.urls.hls ? 'hls' : 'stream';
    if (this.via === 'hls') {
      try {
        const player = await this.attachHls(this.audio, st.urls.hls, {
          avoidNative: this.avoidNativeHls,
          onError: (msg) => { this.error = `Station ${name} (HLS) could not play: ${msg}`; this.render(); this.onChange(); },
        });
        this._detach = player.detach;
        this.hlsMode = player.mode;
      } catch (err) {
        this.error = `Station ${name} could not play through HLS: ${err.message}`;
        this.render();
        this.onChange();
        return;
      }
    } else {
      this.audio.src = stationSource(st, (t) => this.audio.canPlayType(t));
    }
    this.render();
    try {
      await this.audio.play();
    } catch (err) {
      this.error = `Station ${name} could not play: ${err.message}`;
    }
    this.render();
    this.onChange();
  }

  /** Pause: drop the connection (a live stream resumes at the live point, not where it left). */
  pause() {
    this.audio.pause();
    if (!this._detachHls()) {
      this.audio.removeAttribute('src');
      this.audio.load();
    }
    this.render();
    this.onChange();
  }

  _detachHls() {
    const detach = this._detach;
    this._detach = null;
    this.hlsMode = null;
    if (detach) detach();
    return Boolean(detach);
  }

  resume() {
    if (this.current) this.play(this.current, this.via);
  }

  /** Back to My stream: forget the station. */
  stop() {
    if (this.current === null) return;
    this.pause();
    this.current = null;
    this.render();
    this.onChange();
  }

  render() {
    const doc = this.list.ownerDocument;
    this.list.replaceChildren();
    for (const st of this.items) {
      const li = doc.createElement('li');
      li.className = 'station';
      li.dataset.station = st.name;
      const name = doc.createElement('strong');
      name.textContent = st.name;
      const desc = doc.createElement('span');
      desc.className = 'muted station-description';
      desc.textContent = st.description || '';
      const count = doc.createElement('span');
      count.className = 'station-listeners';
      count.textContent = listenersText(st.listeners ? st.listeners.total : 0);
      const button = doc.createElement('button');
      button.type = 'button';
      button.className = 'btn station-play';
      const on = this.current === st.name && !this.audio.paused;
      button.textContent = on ? 'Stop' : 'Play';
      button.setAttribute('aria-pressed', String(on));
      button.setAttribute('aria-label', `${on ? 'Stop' : 'Play'} station ${st.name}`);
      button.addEventListener('click', () => (on ? this.stop() : this.play(st.name)));
      li.append(name, ' ', count, doc.createElement('br'), desc, ' ', button);
      if (st.urls && st.urls.hls && !on) {
        const hls = doc.createElement('button');
        hls.type = 'button';
        hls.className = 'btn station-play-hls';
        hls.textContent = 'HLS';
        hls.title = 'Play through HLS, as a CDN delivers it';
        hls.setAttribute('aria-label', `Play station ${st.name} via HLS`);
        hls.addEventListener('click', () => this.play(st.name, 'hls'));
        li.append(' ', hls);
      }
      this.list.append(li);
    }
    if (this.error) {
      const li = doc.createElement('li');
      li.className = 'notice notice-error';
      li.textContent = this.error;
      this.list.append(li);
    }
  }
}
