import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPipelineConfig, parsePipelineConfig, PipelineConfigError, rawStageConfig } from '../../src/pipeline/index.js';

const root = resolve(import.meta.dirname, '../..');

function issuesOf(fn: () => unknown): { where: string; path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PipelineConfigError, `expected a PipelineConfigError, got ${(e as Error).stack}`);
    return e.issues;
  }
  assert.fail('expected the config to be rejected');
}

test('the embedded demo config loads, with paths resolved against its folder', () => {
  const c = loadPipelineConfig(join(root, 'examples/banking77/pipeline.yaml'));
  assert.equal(c.name, 'banking77');
  assert.equal(c.output, resolve('runs/banking77'));
  assert.deepEqual(c.sources.map((s) => [s.name, s.type, s.dataset]), [['banking77', 'cls', 'banking77'], ['stsb', 'sts', 'stsb']]);
  assert.deepEqual(c.sources[0]!.inputs, [join(root, 'data/banking77/train.csv')]);
  assert.deepEqual(c.sources[1]!.read, { format: 'tsv', quote: false, header: ['genre', 'file', 'year', 'id', 'score', 'sentence1', 'sentence2'] });
  assert.deepEqual(c.sources[1]!.retrieval, { minScore: 4, dataset: 'stsb-retrieval', task: 'STSBenchmark' });
  assert.equal(c.sources[0]!.decontaminate[0]!.path, join(root, 'data/banking77/test.csv'));
  assert.equal(c.eval.dataDir, join(root, 'data'));
  assert.deepEqual(c.eval.tasks, [{ task: 'Banking77Classification' }, { task: 'STSBenchmark', splits: ['validation'] }]);
  assert.equal(c.model.init?.architecture, 'qwen2');
  assert.deepEqual(c.mine, { retriever: 'hashing', range: [10, 30], negatives: 4, relativeMargin: 0.05, seed: 42 });
  // --output and --set win over the file.
  const o = loadPipelineConfig(join(root, 'examples/banking77/pipeline.yaml'), { output: '/tmp/x-run', overrides: ['train.stage1.steps=7', 'seed=3'] });
  assert.equal(o.output, '/tmp/x-run');
  assert.equal(o.train.stage1.steps, 7);
  assert.equal(o.seed, 3);
});

test('stage sections become trainer configs with the stage presets and the pipeline data', () => {
  const c = loadPipelineConfig(join(root, 'examples/banking77/pipeline.yaml'));
  const raw = rawStageConfig(c, 'stage2', '/m', '/out', [{ name: 'b', file: 'transform/b.jsonl', family: 'cls', dataset: 'b', records: 3, origin: 'source', task: 'Banking77Classification' }]);
  const stage = (raw.stages as Record<string, unknown>[])[0]!;
  assert.equal(stage.name, 'stage2');
  assert.equal(stage.preset, 'small-stage2', 'stage 2 takes stage-2 defaults although it is the only stage of its trainer run');
  assert.deepEqual(stage.data, [{ path: join(c.output, 'transform/b.jsonl'), task: 'Banking77Classification' }]);
  assert.deepEqual(raw.model, { path: '/m' });
});

test('every problem is reported at once, at its line and column, with hints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-pcfg-'));
  try {
    const file = join(dir, 'p.yaml');
    const text = [
      'name: bad',
      'sources:',
      '  b77:',
      '    type: cls',
      `    input: ${join(dir, 'missing.csv')}`,
      '    mapp: { label: category }',
      '  s:',
      '    type: nonsense',
      `    input: ${join(root, 'data/stsbenchmark/sts-train.csv')}`,
      '    retrieval: { minScore: 4 }',
      'model:',
      '  init: { architecture: bert, hiddenSize: 100, heads: 3 }',
      'train:',
      '  stage1: { lr: fast, warmup_steps: 3 }',
      'eval:',
      `  dataDir: ${join(root, 'data')}`,
      '  tasks: [Banking77Clasification]',
    ].join('\n');
    writeFileSync(file, text);
    const issues = issuesOf(() => loadPipelineConfig(file));
    const byPath = new Map(issues.map((i) => [i.path, i]));
    assert.match(byPath.get('sources.b77.input')!.message, /missing\.csv does not exist/);
    assert.equal(byPath.get('sources.b77.input')!.where, `${file}:5:12`);
    assert.match(byPath.get('sources.b77.mapp')!.message, /did you mean "map"/);
    assert.equal(byPath.get('sources.b77.mapp')!.where, `${file}:6:5`);
    assert.match(byPath.get('sources.s.type')!.message, /expected one of .*"sts"/);
    assert.match(byPath.get('model.init.heads')!.message, /multiple of heads/);
    assert.match(byPath.get('eval.tasks[0]')!.message, /unknown task "Banking77Clasification"/);
    // A registry task whose data folder is missing is reported at load time, with the download hint.
    const missing = issuesOf(() => loadPipelineConfig(join(root, 'examples/banking77/pipeline.yaml'), { overrides: ['eval.tasks=[ArguAna]'] }));
    assert.equal(missing[0]!.path, 'eval.tasks[0]');
    assert.match(missing[0]!.message, /ArguAna: no data folder found\. .*huggingface-cli download --repo-type dataset mteb\/arguana/);
    assert.ok(issues.length >= 5);
    // Stage fields are checked by the trainer's rules, once the rest is valid.
    const ok = text
      .replace(join(dir, 'missing.csv'), join(root, 'data/banking77/train.csv'))
      .replace('mapp', 'map')
      .replace('nonsense', 'sts\n    format: tsv\n    quote: false\n    columns: [g, f, y, i, score, sentence1, sentence2]')
      .replace('hiddenSize: 100, heads: 3', 'hiddenSize: 96, heads: 3')
      .replace('Banking77Clasification', 'Banking77Classification');
    writeFileSync(file, ok);
    const stageIssues = issuesOf(() => loadPipelineConfig(file));
    const lr = stageIssues.find((i) => i.path === 'train.stage1.lr')!;
    assert.match(lr.message, /expected a number, got the string "fast"/);
    assert.equal(lr.where.replace(/:\d+$/, ''), `${file}:17`, 'the line of train.stage1 in the pipeline config');
    assert.match(stageIssues.find((i) => i.path === 'train.stage1.warmup_steps')!.message, /did you mean "warmup"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('overrides are checked and named in errors; pipeline-owned stage fields are refused', () => {
  const file = join(root, 'examples/banking77/pipeline.yaml');
  const issues = issuesOf(() => loadPipelineConfig(file, { overrides: ['mine.negatives=zero'] }));
  assert.deepEqual(issues.map((i) => [i.where, i.path]), [['--set mine.negatives=zero', 'mine.negatives']]);
  // A key that only the override created is named at the override too (not at a line of the file).
  const created = issuesOf(() => loadPipelineConfig(file, { overrides: ['foo.bar=1'] }));
  assert.deepEqual(created.map((i) => [i.where, i.path]), [['--set foo.bar=1', 'foo']]);
  const nested = issuesOf(() => loadPipelineConfig(file, { overrides: ['train.stage2.lrr=1'] }));
  assert.deepEqual(nested.map((i) => [i.where, i.path]), [['--set train.stage2.lrr=1', 'train.stage2.lrr']]);
  const data = issuesOf(() => loadPipelineConfig(file, { overrides: ['train.stage2.data=[x.jsonl]'] }));
  assert.match(data[0]!.message, /set by the pipeline/);
  const bad = issuesOf(() => parsePipelineConfig('sources: [1, 2', { file: '/tmp/x.yaml' }));
  assert.match(bad[0]!.message, /invalid YAML/);
  assert.match(bad[0]!.where, /^\/tmp\/x\.yaml:\d+:\d+$/);
});

test("a source's training task must be in the instruction tables, checked when the config is read", () => {
  const file = join(root, 'examples/banking77/pipeline.yaml');
  const issues = issuesOf(() => loadPipelineConfig(file, { overrides: ['sources.banking77.task=Banking77Clasification', 'sources.stsb.retrieval.task=NoSuchTask'] }));
  assert.deepEqual(
    issues.map((i) => [i.path, i.where]),
    [
      ['sources.banking77.task', '--set sources.banking77.task=Banking77Clasification'],
      ['sources.stsb.retrieval.task', '--set sources.stsb.retrieval.task=NoSuchTask'],
    ],
  );
  assert.match(issues[0]!.message, /"Banking77Clasification" is not in the instruction tables .*give "instruction" instead/);
  // In the file, the issue names its line.
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-pcfg-'));
  try {
    const bad = join(dir, 'p.yaml');
    writeFileSync(bad, readFileSync(file, 'utf8').replace(/(\n\s+task: )Banking77Classification/, '$1NoSuchTask').replace(/\.\.\/\.\.\//g, `${root}/`));
    const located = issuesOf(() => loadPipelineConfig(bad)).find((i) => i.path === 'sources.banking77.task')!;
    const line = readFileSync(bad, 'utf8').split('\n').findIndex((l) => /task: NoSuchTask/.test(l)) + 1;
    assert.match(located.where, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('training steps identify their in-training evaluation data by content, not path (a moved project keeps its fingerprints)', async () => {
  const { stage2Step } = await import('../../src/pipeline/steps/train.js');
  const { evalStep } = await import('../../src/pipeline/steps/eval.js');
  const tmp = mkdtempSync(join(tmpdir(), 'qzhou-moved-data-'));
  try {
    const c = loadPipelineConfig(join(root, 'examples/banking77/pipeline.yaml'));
    cpSync(c.eval.dataDir, join(tmp, 'data'), { recursive: true });
    const moved = { ...c, eval: { ...c.eval, dataDir: join(tmp, 'data') } };
    assert.deepEqual(await stage2Step.identity(moved), await stage2Step.identity(c));
    assert.deepEqual(await evalStep.identity(moved), await evalStep.identity(c));
    // Other content at the same place is another identity.
    const dev = join(tmp, 'data', 'stsbenchmark', 'sts-dev.csv');
    writeFileSync(dev, readFileSync(dev, 'utf8').replace(/\t5\.000\t/, '\t4.999\t'));
    assert.notDeepEqual(await stage2Step.identity(moved), await stage2Step.identity(c));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
