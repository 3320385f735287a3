import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'auralis', 'web');
const read = (name) => readFileSync(join(WEB, name), 'utf8');

/** The relative modules a file imports statically (`import … from './x.js'`, `import './x.js'`). */
function imports(name) {
  const src = read(name);
  return [...src.matchAll(/^\s*(?:import|export)\s[^;]*?['"]\.\/([a-z0-9_]+\.js)['"]/gms)].map((m) => m[1]);
}

/** Every module `entry` loads, directly or through others (not `entry` itself). */
function graph(entry) {
  const seen = new Set();
  const todo = [entry];
  while (todo.length) {
    for (const dep of imports(todo.pop())) {
      if (!seen.has(dep)) {
        seen.add(dep);
        todo.push(dep);
      }
    }
  }
  seen.delete(entry);
  return seen;
}

test('the import scanner finds static imports, multi-line ones included', () => {
  assert.deepEqual(imports('player.js'), ['sleep_timer.js']);
  assert.ok(graph('audio_client_worklet.js').has('frames.js'), 'decoder.js imports frames.js');
  assert.ok(graph('audio_client_worklet.js').has('view.js'), 'a multi-line import');
});

test('index.html runs startup.js first, then the page script, and preloads their whole module graph', () => {
  const html = read('index.html');
  const entries = [...html.matchAll(/<script type="module"(?: async)? src="\/client\/([a-z0-9_]+\.js)">/g)].map((m) => m[1]);
  assert.deepEqual(entries, ['startup.js', 'audio_client_worklet.js']);
  assert.ok(html.includes('<script type="module" async src="/client/startup.js">'), 'startup.js waits for nothing');
  assert.ok(graph('audio_client_worklet.js').has('startup.js'), 'the page script takes what startup.js started');
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="\/client\/([a-z0-9_]+\.js)">/g)].map((m) => m[1]);
  assert.equal(new Set(preloaded).size, preloaded.length, 'no module preloaded twice');
  const all = new Set(entries.flatMap((e) => [...graph(e)]));
  for (const e of entries) all.delete(e); // the script tags fetch those
  const want = [...all].sort();
  assert.deepEqual([...preloaded].sort(), want,
    'every module the page imports has a <link rel="modulepreload"> (and no other file does)');
  for (const f of preloaded) assert.ok(existsSync(join(WEB, f)), `${f} exists`);
  // startup.js's own modules are requested first (before the page script and its modules)
  const pageScript = html.indexOf('src="/client/audio_client_worklet.js"');
  for (const f of graph('startup.js')) {
    assert.ok(html.indexOf(`href="/client/${f}"`) < pageScript, `${f} is preloaded before the page script`);
  }
  assert.ok(html.indexOf('rel="modulepreload"') < html.indexOf('</head>'), 'the preloads are in the head');
});

test('the worklet requests its whole module graph with its first file', () => {
  const direct = new Set(imports('audio_worklet_processor.js'));
  for (const f of graph('audio_worklet_processor.js')) {
    assert.ok(direct.has(f), `${f} is imported by audio_worklet_processor.js itself, not only further down`);
  }
  assert.ok(direct.has('playback_engine.js'));
});
