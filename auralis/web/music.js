// The musical facts, as the server serves them at GET /api/music (auralis/music/params.py and
// palettes.py are their one home). The page builds its mode, key and palette selects, slider ranges
// and mood buttons from them, and checks parameters against them; nothing here copies a mode, a
// range, a palette or a preset.

/** Why the facts could not be loaded; `fatal` when retrying cannot help (401, 403). */
export class FactsError extends Error {
  constructor(message, { status = 0, fatal = false } = {}) {
    super(message);
    this.status = status;
    this.fatal = fatal;
  }
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

export class MusicFacts {
  /** Validates the server's answer; throws FactsError if it is not usable. */
  constructor(json) {
    const ok = json && Array.isArray(json.modes) && Array.isArray(json.keys) && Array.isArray(json.presets)
      && json.ranges && json.defaults;
    if (!ok) throw new FactsError('the server sent musical facts this page cannot read');
    this.modes = json.modes.filter((m) => m && typeof m.name === 'string').map((m) => ({
      name: m.name, label: String(m.label || m.name), character: String(m.character || ''),
    }));
    this.keys = json.keys.filter((k) => k && Number.isInteger(k.value)).map((k) => ({ value: k.value, name: String(k.name) }));
    this.ranges = {};
    for (const name of ['key', 'bpm', 'intensity']) {
      const r = json.ranges[name];
      if (!r || !isNum(r.min) || !isNum(r.max) || r.min > r.max) throw new FactsError(`no range for ${name}`);
      this.ranges[name] = { min: r.min, max: r.max, step: isNum(r.step) && r.step > 0 ? r.step : 1 };
    }
    this.presets = json.presets.filter((p) => p && typeof p.name === 'string' && p.params).map((p) => ({
      name: p.name, label: String(p.label || p.name), description: String(p.description || ''), params: { ...p.params },
    }));
    this.palettes = (Array.isArray(json.palettes) ? json.palettes : []).filter((p) => p && typeof p.name === 'string')
      .map((p) => ({ name: p.name, label: String(p.label || p.name), description: String(p.description || '') }));
    if (!this.modes.length || !this.keys.length) throw new FactsError('the server listed no modes or keys');
    if (!this.palettes.length) throw new FactsError('the server listed no palettes');
    const d = {};
    for (const name of ['key', 'mode', 'bpm', 'intensity', 'palette']) {
      d[name] = this.clean(name, json.defaults[name]);
      if (d[name] === undefined) throw new FactsError(`the default ${name} is out of range`);
    }
    this.defaults = Object.freeze(d);
  }

  /** One parameter checked against the server's ranges: the clean value, or undefined. */
  clean(name, value) {
    const r = this.ranges[name];
    switch (name) {
      case 'key':
        return Number.isInteger(value) && value >= r.min && value <= r.max ? value : undefined;
      case 'mode': {
        if (typeof value !== 'string') return undefined;
        const v = value.toLowerCase();
        return this.modes.some((m) => m.name === v) ? v : undefined;
      }
      case 'bpm':
        return isNum(value) && value >= r.min && value <= r.max ? value : undefined;
      case 'intensity':
        return isNum(value) && value >= r.min && value <= r.max ? Math.round(value * 100) / 100 : undefined;
      case 'palette':
        return typeof value === 'string' && this.palettes.some((p) => p.name === value) ? value : undefined;
      default:
        return undefined;
    }
  }

  /** Complete, valid parameters from anything: invalid or missing fields take the defaults. */
  sanitize(obj) {
    const out = { ...this.defaults };
    if (obj && typeof obj === 'object') {
      for (const name of Object.keys(out)) {
        const v = this.clean(name, obj[name]);
        if (v !== undefined) out[name] = v;
      }
    }
    return out;
  }

  preset(name) {
    return this.presets.find((p) => p.name === name) || null;
  }

  mode(name) {
    return this.modes.find((m) => m.name === name) || null;
  }

  palette(name) {
    return this.palettes.find((p) => p.name === name) || null;
  }

  /** The preset whose values the parameters match, or null ("Custom"). */
  matchingPreset(params) {
    for (const p of this.presets) {
      const v = p.params;
      if (params.mode === v.mode && Math.abs(params.bpm - v.bpm) < 1e-6
          && Math.abs(params.intensity - v.intensity) < 1e-6
          && (v.palette === undefined || params.palette === v.palette)) return p.name;
    }
    return null;
  }

  /** Parameters after a preset: the preset's values, keeping the key (as the server does). */
  applyPreset(params, name) {
    const p = this.preset(name);
    if (!p) throw new Error(`unknown preset ${name}`);
    return this.sanitize({ ...params, ...p.params, key: params.key });
  }

  keyName(key) {
    const k = this.keys.find((x) => x.value === key);
    return k ? k.name : '—';
  }
}

/**
 * GET /api/music (with the page's token, if any). Throws FactsError: `fatal` for 401/403 (a token
 * is missing or refused: retrying cannot help), not fatal for network errors and 5xx.
 */
export async function fetchMusicFacts(fetchFn, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetchFn('/api/music', { headers, cache: 'no-store' });
  } catch (err) {
    throw new FactsError(`cannot reach the server (${err.message})`);
  }
  if (res.status === 401 || res.status === 403) {
    let detail = '';
    try {
      const body = await res.json();
      detail = body && body.detail ? ` (${body.detail})` : '';
    } catch {
      detail = '';
    }
    const what = token ? 'refused this page\'s token' : 'needs a listening token, and this page has none';
    throw new FactsError(`This server ${what}${detail}. Open the link you were given, which carries ?token=….`,
      { status: res.status, fatal: true });
  }
  if (!res.ok) throw new FactsError(`the server answered HTTP ${res.status}`, { status: res.status });
  return new MusicFacts(await res.json());
}
