// The listener's stored settings (musical parameters and volume) in localStorage, validated
// against the server's musical facts on the way in and out.

export const SETTINGS_KEY = 'auralis.settings';
export const DEFAULT_VOLUME = 80;

/** The stored settings (JSON text) parsed and validated against `facts`; never throws. */
export function parseSettings(text, facts) {
  let obj = null;
  try {
    obj = typeof text === 'string' ? JSON.parse(text) : null;
  } catch {
    obj = null;
  }
  const params = facts.sanitize(obj && obj.params);
  let volume = DEFAULT_VOLUME;
  if (obj && typeof obj.volume === 'number' && Number.isFinite(obj.volume)) {
    volume = Math.min(100, Math.max(0, Math.round(obj.volume)));
  }
  return { params, volume };
}

export function serializeSettings({ params, volume }, facts) {
  return JSON.stringify({ version: 1, params: facts.sanitize(params), volume });
}

/** Read a key from storage; null when storage is missing or disabled. */
export function readStored(storage, key) {
  try {
    return storage ? storage.getItem(key) : null;
  } catch {
    return null;
  }
}

/** Write a key; false when storage is full or disabled (the value then lasts for this page only). */
export function writeStored(storage, key, text) {
  try {
    if (text === null) storage.removeItem(key);
    else storage.setItem(key, text);
    return true;
  } catch {
    return false;
  }
}
