// The package entry (src/index.ts → dist/src/index.js, package.json "main"): every area loads together
// and the documented entry points are there; the package as npm packs it (below).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

test('the package entry exposes each area as a namespace and the main entry points by name', async () => {
  const q = await import('../../src/index.js');
  for (const ns of ['graph', 'model', 'data', 'synth', 'train', 'evaluation', 'serve', 'pipeline', 'report'] as const) {
    assert.equal(typeof q[ns], 'object', ns);
    assert.ok(Object.keys(q[ns]).length > 3, `${ns} exports its API`);
  }
  for (const fn of ['loadEmbedder', 'readRecords', 'transformFiles', 'synthesize', 'mineFile', 'runTraining', 'evaluate', 'createEmbeddingServer', 'loadPipelineConfig', 'runPipeline', 'writeReport'] as const) {
    assert.equal(typeof q[fn], 'function', fn);
  }
  assert.equal(q.Embedder.fromPretrained, q.loadEmbedder);
  assert.equal(q.pipeline.runPipeline, q.runPipeline);
  assert.equal(q.evaluation.evaluate, q.evaluate);
});

// What a consumer gets from `npm install qzhou`: the manifest, the packed file list (as npm computes it),
// and the documentation's TypeScript examples, which must import only what the package exports.
const root = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  type?: string; engines?: { node?: string }; bin?: Record<string, string>; main?: string; types?: string;
  files?: string[]; exports?: Record<string, string | Record<string, string>>;
};
/** The areas: every src/<area>/index.ts (src/cli and src/util are internal). */
const areas = readdirSync(join(root, 'src'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && !['cli', 'util'].includes(d.name) && existsSync(join(root, 'src', d.name, 'index.ts')))
  .map((d) => d.name)
  .sort();

test('package.json: ESM, Node ≥ 20, the qzhou bin, and one export per area with its types first', () => {
  assert.equal(manifest.type, 'module');
  assert.match(manifest.engines?.node ?? '', />=\s*20/);
  const bin = manifest.bin?.qzhou;
  assert.ok(bin && readFileSync(join(root, bin), 'utf8').startsWith('#!/usr/bin/env node'), 'bin qzhou is an executable script');
  assert.deepEqual(areas, ['data', 'eval', 'graph', 'model', 'pipeline', 'report', 'serve', 'synth', 'train']);
  const exp = manifest.exports ?? {};
  assert.deepEqual(Object.keys(exp).sort(), ['.', './package.json', ...areas.map((a) => `./${a}`)].sort(), 'exports: the entry, each area, package.json');
  for (const [sub, dir] of [['.', 'dist/src'], ...areas.map((a) => [`./${a}`, `dist/src/${a}`])] as const) {
    const target = exp[sub] as Record<string, string>;
    assert.deepEqual(Object.keys(target), ['types', 'default'], `${sub}: "types" must come before "default"`);
    assert.equal(target.types, `./${dir}/index.d.ts`, sub);
    assert.equal(target.default, `./${dir}/index.js`, sub);
  }
  assert.equal(`./${manifest.main}`, (exp['.'] as Record<string, string>).default);
  assert.equal(`./${manifest.types}`, (exp['.'] as Record<string, string>).types);
});

test('the packed files: build output, bin, prompt templates, demo config and its data, licence; no tests or runs', async () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  for (const f of ['package.json', 'README.md', 'LICENSE', manifest.bin!.qzhou!.replace(/^\.\//, '')]) assert.ok(files.has(f), `${f} is packed`);
  // Files the code reads at run time, found from the package root: the synthesis prompt templates.
  const { defaultPromptsDir } = await import('../../src/synth/prompts.js');
  const prompts = readdirSync(defaultPromptsDir()).filter((f) => f.endsWith('.yaml'));
  assert.ok(prompts.length >= 5);
  for (const p of prompts) assert.ok(files.has(relative(root, join(defaultPromptsDir(), p)).split(sep).join('/')), `prompt template ${p} is packed`);
  // The demo config (README: `qzhou pipeline --config examples/banking77/pipeline.yaml`) and the data it names.
  const demo = 'examples/banking77/pipeline.yaml';
  assert.ok(files.has(demo));
  const inputs = [...readFileSync(join(root, demo), 'utf8').matchAll(/(?:input|path):\s*(\S+\.(?:csv|jsonl|tsv))/g)].map((m) => join(dirname(demo), m[1]!).split(sep).join('/'));
  assert.ok(inputs.length >= 4, inputs.join(' '));
  for (const f of inputs) assert.ok(files.has(f), `${f} (read by ${demo}) is packed`);
  for (const f of files) {
    assert.doesNotMatch(f, /^(test|bench|runs|scripts|node_modules|\.ci|dist\/(test|bench))\//, `${f} must not be packed`);
    if (f.startsWith('src/')) assert.match(f, /^src\/synth\/prompts\/[^/]+\.yaml$/, `${f}: only the prompt templates of src/ are packed`);
  }
  // With a build present, each export's files are in it (the build itself is `prepare`, run by npm pack).
  if (existsSync(join(root, 'dist', 'src', 'index.js'))) {
    for (const target of Object.values(manifest.exports!)) {
      for (const p of typeof target === 'string' ? [target] : Object.values(target)) assert.ok(files.has(p.replace(/^\.\//, '')), `${p} is packed`);
    }
  }
});

test('the TypeScript examples in README.md and docs/*.md import only what the package exports', async () => {
  const exp = manifest.exports!;
  const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  let checked = 0;
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8');
    for (const block of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
      for (const m of block[1]!.matchAll(/^import\s+(type\s+)?([^'"]*?)\s+from\s+'([^']+)'/gm)) {
        const spec = m[3]!;
        assert.ok(!spec.startsWith('.'), `${doc}: import from '${spec}': a consumer imports from 'qzhou' or 'qzhou/<area>', not from the repository's files`);
        if (spec !== 'qzhou' && !spec.startsWith('qzhou/')) continue; // node:…, or another package (e.g. an HTTP client)
        const sub = spec === 'qzhou' ? '.' : `./${spec.slice(6)}`;
        assert.ok(sub in exp, `${doc}: import from '${spec}' is not an entry point of the package (use 'qzhou' or 'qzhou/<area>')`);
        const srcIndex = sub === '.' ? 'src/index.ts' : `src/${sub.slice(2)}/index.ts`;
        const mod = (await import(pathToFileURL(join(root, srcIndex.replace(/\.ts$/, '.js'))).href)) as Record<string, unknown>;
        const source = readFileSync(join(root, srcIndex), 'utf8');
        const clause = m[2]!.replace(/\/\/.*$/gm, '').trim();
        assert.match(clause, /^\{[\s\S]*\}$/, `${doc}: import from '${spec}': name the exports ({ … })`);
        for (const raw of clause.slice(1, -1).split(',')) {
          const name = raw.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim();
          if (!name) continue;
          // Values are checked at run time; a type-only name must at least be named by the area's index.
          const isType = m[1] !== undefined || /^\s*type\s/.test(raw);
          assert.ok(name in mod || (isType && new RegExp(`\\b${name}\\b`).test(source)), `${doc}: '${spec}' has no export ${name}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked >= 30, `checked ${checked} imported names`);
});
