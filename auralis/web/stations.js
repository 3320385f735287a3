// Stations: the shared streams the server lists (GET /api/stations), with live listener counts.
// A station plays in an <audio> element, which browsers keep playing on a locked phone (they
// suspend Web Audio there). "My stream" (the steerable personal stream) stays the default: a
// station plays only when chosen, and choosing either one stops the other.

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
   * onStart(): called before a station starts (pauses My stream); onChange(): state changed.
   */
  constructor({ list, audio, fetchJson, onStart, onChange }) {
    this.list = list;
    this.audio = audio;
    this.fetchJson = fetchJson;
    this.onStart = onStart;
    this.onChange = onChange || (() => {});
    this.items = [];
    this.current = null; // the chosen station's name (playing or paused)
    this.error = null;
    audio.addEventListener('playing', () => this.onChange());
    audio.addEventListener('pause', () => this.onChange());
    audio.addEventListener('error', () => {
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

  async play(name) {
    const st = this.station(name);
    if (!st) return;
    await this.onStart();
    this.error = null;
    this.current = name;
    this.audio.src = stationSource(st, (t) => this.audio.canPlayType(t));
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
    this.audio.removeAttribute('src');
    this.audio.load();
    this.render();
    this.onChange();
  }

  resume() {
    if (this.current) this.play(this.current);
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
