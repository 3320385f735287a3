// Favourites: named Share links (a seed and the musical parameters), kept in localStorage and
// validated against the server's musical facts on the way in, as the settings are.

import { parseSeed } from './share_link.js';

export const FAVOURITES_KEY = 'auralis.favourites';
export const MAX_FAVOURITES = 50;
export const MAX_NAME_LENGTH = 40;

/** A favourite's name, trimmed, or null when empty or too long. */
export function cleanName(name) {
  if (typeof name !== 'string') return null;
  const n = name.trim().replace(/\s+/g, ' ');
  return n.length >= 1 && n.length <= MAX_NAME_LENGTH ? n : null;
}

/** The stored favourites (JSON text) parsed and validated; broken entries are dropped. */
export function parseFavourites(text, facts) {
  let obj = null;
  try {
    obj = typeof text === 'string' ? JSON.parse(text) : null;
  } catch {
    obj = null;
  }
  const list = obj && Array.isArray(obj.favourites) ? obj.favourites : [];
  const out = [];
  for (const f of list) {
    const name = f && cleanName(f.name);
    if (!name || out.some((o) => o.name === name) || !f.params || typeof f.params !== 'object') continue;
    out.push({ name, params: facts.sanitize(f.params), seed: parseSeed(f.seed) });
    if (out.length >= MAX_FAVOURITES) break;
  }
  return out;
}

export function serializeFavourites(list) {
  return JSON.stringify({ version: 1, favourites: list });
}

/** The list with a favourite saved under `name` (an existing one of that name is replaced, and
 * moves to the top). Throws with a reason a listener can read when the name is unusable. */
export function addFavourite(list, name, params, seed, facts) {
  const n = cleanName(name);
  if (!n) throw new Error(`a favourite needs a name of 1 to ${MAX_NAME_LENGTH} characters`);
  const entry = { name: n, params: facts.sanitize(params), seed: parseSeed(seed) };
  return [entry, ...list.filter((f) => f.name !== n)].slice(0, MAX_FAVOURITES);
}

export function removeFavourite(list, name) {
  return list.filter((f) => f.name !== name);
}
