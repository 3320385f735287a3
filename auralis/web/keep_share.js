// The "Keep and share" card: download the last 10 minutes (Ogg Opus, WAV, MIDI) with progress,
// copy a Share link of the music playing, and keep favourites (named Share links) in
// localStorage. The work is in downloads.js, share_link.js and favourites.js; this binds them to
// the page.

import { DOWNLOAD_MINUTES, renderLast } from './downloads.js';
import { FAVOURITES_KEY, addFavourite, parseFavourites, removeFavourite, serializeFavourites } from './favourites.js';
import { readStored, writeStored } from './settings.js';
import { shareUrl } from './share_link.js';

const FORMATS = [['ogg', 'Ogg Opus'], ['wav', 'WAV'], ['midi', 'MIDI']];

export class KeepShare {
  /** `current()` gives { clientId, seed, params } of the music playing now. */
  constructor({ doc, win, facts, token = null, current }) {
    this.doc = doc;
    this.win = win;
    this.facts = facts;
    this.token = token;
    this.current = current;
    this.busy = false;
    this.favourites = parseFavourites(readStored(win.localStorage, FAVOURITES_KEY), facts);
    this.$ = (id) => doc.getElementById(id);
  }

  bind() {
    for (const [fmt] of FORMATS) this.$(`dl-${fmt}`).addEventListener('click', () => this.download(fmt));
    this.$('share').addEventListener('click', () => this.share());
    this.$('fav-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.saveFavourite(this.$('fav-name').value);
    });
    this.$('fav-list').addEventListener('click', (e) => {
      const name = e.target && e.target.dataset ? e.target.dataset.remove : undefined;
      if (name !== undefined) this.setFavourites(removeFavourite(this.favourites, name));
    });
    this.$('dl-minutes').textContent = String(DOWNLOAD_MINUTES);
    this.renderFavourites();
  }

  base() {
    const loc = this.win.location;
    return `${loc.origin}${loc.pathname}`;
  }

  link() {
    const { seed, params } = this.current();
    return shareUrl(this.base(), params, seed, this.facts);
  }

  setStatus(id, text) {
    this.$(id).textContent = text;
  }

  async download(fmt) {
    if (this.busy) return;
    this.busy = true;
    const label = FORMATS.find(([f]) => f === fmt)[1];
    const progress = this.$('dl-progress');
    for (const [f] of FORMATS) this.$(`dl-${f}`).disabled = true;
    progress.hidden = false;
    progress.value = 0;
    this.setStatus('dl-status', `Rendering ${label}…`);
    try {
      const job = await renderLast({
        fetchFn: this.win.fetch.bind(this.win),
        clientId: this.current().clientId,
        format: fmt,
        token: this.token,
        onProgress: (p) => {
          progress.value = p;
          this.setStatus('dl-status', `Rendering ${label}… ${Math.round(p * 100)}%`);
        },
      });
      await this.save(job);
      this.setStatus('dl-status', `Ready: ${job.filename}`);
    } catch (err) {
      this.setStatus('dl-status', err.message);
    } finally {
      this.busy = false;
      for (const [f] of FORMATS) this.$(`dl-${f}`).disabled = false;
    }
  }

  /** Hand the file over: a plain link (the server names it), or a Blob when a token is needed. */
  async save(job) {
    let href = job.file;
    if (this.token) {
      const res = await this.win.fetch(job.file, { headers: { Authorization: `Bearer ${this.token}` } });
      if (!res.ok) throw new Error(`The download failed: HTTP ${res.status}`);
      href = this.win.URL.createObjectURL(await res.blob());
    }
    const a = this.$('dl-link');
    a.href = href;
    a.download = job.filename;
    a.textContent = job.filename;
    a.hidden = false;
    a.click();
  }

  async share() {
    const url = this.link();
    const field = this.$('share-url');
    field.value = url;
    field.hidden = false;
    try {
      await this.win.navigator.clipboard.writeText(url);
      this.setStatus('share-status', 'Link copied: it starts this music.');
    } catch {
      field.select();
      this.setStatus('share-status', 'Copy the link above: it starts this music.');
    }
  }

  saveFavourite(name) {
    const { seed, params } = this.current();
    try {
      this.setFavourites(addFavourite(this.favourites, name, params, seed, this.facts));
      this.$('fav-name').value = '';
      this.setStatus('fav-status', '');
    } catch (err) {
      this.setStatus('fav-status', err.message);
    }
  }

  setFavourites(list) {
    this.favourites = list;
    if (!writeStored(this.win.localStorage, FAVOURITES_KEY, serializeFavourites(list))) {
      this.setStatus('fav-status', 'This browser does not keep favourites (storage is off or full).');
    }
    this.renderFavourites();
  }

  renderFavourites() {
    const ul = this.$('fav-list');
    ul.replaceChildren();
    for (const f of this.favourites) {
      const li = this.doc.createElement('li');
      const a = this.doc.createElement('a');
      a.href = shareUrl(this.base(), f.params, f.seed, this.facts);
      a.textContent = f.name;
      a.className = 'fav-link';
      const rm = this.doc.createElement('button');
      rm.type = 'button';
      rm.className = 'btn btn-small';
      rm.textContent = 'Remove';
      rm.dataset.remove = f.name;
      rm.setAttribute('aria-label', `Remove ${f.name}`);
      li.append(a, ' ', rm);
      ul.append(li);
    }
    this.$('fav-empty').hidden = this.favourites.length > 0;
  }
}
