// The Share link: a URL of this page that starts the same music (the seed and every musical
// parameter), and reading such a link back. Which parameters exist, and their valid values, come
// from the server's musical facts (GET /api/music): nothing here names a parameter.

/** The largest seed the server accepts (websocket-protocol.md: 0..2^63-1); kept as text. */
const MAX_SEED = 2n ** 63n - 1n;

/** A seed as the decimal text the server accepts, or null (JS numbers cannot hold every seed). */
export function parseSeed(value) {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !/^\d{1,19}$/.test(text)) return null;
  const n = BigInt(text);
  return n <= MAX_SEED ? n.toString() : null;
}

/** The parameter names the facts define (their defaults' keys, in the server's order). */
export function paramNames(facts) {
  return Object.keys(facts.defaults);
}

/** A query value (text) as the type of the parameter's default, or undefined. */
function fromText(facts, name, text) {
  if (typeof text !== 'string' || text === '') return undefined;
  if (typeof facts.defaults[name] === 'number') {
    const n = Number(text);
    return Number.isFinite(n) ? facts.clean(name, n) : undefined;
  }
  return facts.clean(name, text);
}

/**
 * What a page URL's query asks for: `params` holds each valid parameter it names, `rejected`
 * the names whose values the facts refuse, `seed` the seed text (null when absent or invalid;
 * `badSeed` says which).
 */
export function paramsFromQuery(query, facts) {
  const params = {};
  const rejected = [];
  for (const name of paramNames(facts)) {
    if (!query.has(name)) continue;
    const v = fromText(facts, name, query.get(name));
    if (v === undefined) rejected.push(name);
    else params[name] = v;
  }
  const seedText = query.get('seed');
  const seed = seedText === null ? null : parseSeed(seedText);
  return { params, rejected, seed, badSeed: seedText !== null && seed === null };
}

/**
 * The Share link for `params` and `seed` on the page at `base` (origin and path, no query):
 * every parameter the facts define, then the seed. A token is never put in a shared link.
 */
export function shareUrl(base, params, seed, facts) {
  const clean = facts.sanitize(params);
  const q = new URLSearchParams();
  for (const name of paramNames(facts)) q.set(name, String(clean[name]));
  const s = parseSeed(seed);
  if (s !== null) q.set('seed', s);
  return `${base}?${q.toString()}`;
}
