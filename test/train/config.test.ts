import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadTrainConfig, parseTrainConfig, resolveTrainConfig, stagePreset, trainingInstruction, type TrainConfig } from '../../src/train/config.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'qzhou-config-'));
  mkdirSync(join(dir, 'model'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'retrieval.jsonl'), '');
  writeFileSync(join(dir, 'data', 'sts.jsonl'), '');
  writeFileSync(join(dir, 'tiny-config.json'), '{}');
  mkdirSync(join(dir, 'tok'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${(e as Error).stack}`);
    return e.issues.map((i) => `${i.where.replace(dir + '/', '')} ${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

const TWO_STAGES_YAML = `# two stages with the paper's defaults
model:
  path: model
output: runs/demo
stages:
  - name: stage1
    data:
      - path: data/retrieval.jsonl
        instruction: Given a web search query, retrieve relevant passages that answer the query
  - name: stage2
    data:
      - data/retrieval.jsonl
      - { path: data/sts.jsonl, task: STSBenchmark }
`;

test('YAML: unset fields come from the paper Table 1 presets (stage 1 / stage 2); paths resolve against the file', () => {
  const cfg = loadTrainConfig(write('two.yaml', TWO_STAGES_YAML));
  assert.equal(cfg.file, join(dir, 'two.yaml'));
  assert.equal(cfg.model.path, join(dir, 'model'));
  assert.equal(cfg.output, join(dir, 'runs/demo'));
  assert.equal(cfg.seed, 42);
  const [s1, s2] = cfg.stages;
  // recipe.md §5 Table 1.
  assert.deepEqual(
    { steps: s1!.steps, lr: s1!.lr, warmup: s1!.warmup, batch: s1!.batchSize.retrieval, tau: s1!.temperature, q: s1!.maxLength.query, p: s1!.maxLength.passage, families: s1!.families },
    { steps: 32000, lr: 3e-5, warmup: 300, batch: 256, tau: 0.02, q: 256, p: 1536, families: ['retrieval'] },
  );
  assert.deepEqual(
    { steps: s2!.steps, lr: s2!.lr, warmup: s2!.warmup, infonce: s2!.batchSize.retrieval, cosent: s2!.batchSize.pair, tau: s2!.temperature, families: s2!.families, share: s2!.retrievalShare },
    { steps: 8000, lr: 2e-5, warmup: 300, infonce: 256, cosent: 768, tau: 0.02, families: ['retrieval', 'pair', 'cls'], share: 0.72 },
  );
  assert.equal(s1!.preset, 'paper-stage1');
  assert.equal(s2!.preset, 'paper-stage2');
  assert.equal(s1!.queryQueryNegatives, true);
  assert.equal(s1!.weightDecay, 0.01);
  assert.equal(s1!.retrievalShare, null);
  assert.deepEqual(s1!.data, [{ path: join(dir, 'data/retrieval.jsonl'), instruction: 'Given a web search query, retrieve relevant passages that answer the query' }]);
  // A task name pulls the instruction and its sides from the QZhou tables.
  assert.deepEqual(s2!.data[1], { path: join(dir, 'data/sts.jsonl'), task: 'STSBenchmark', instruction: 'Retrieve semantically similar text', sides: 'both' });
  assert.equal(s2!.seed, 42);
});

test('JSON and YAML give the same config; overrides apply on top', () => {
  const y = loadTrainConfig(write('same.yaml', TWO_STAGES_YAML));
  const asJson = JSON.stringify({
    model: { path: 'model' },
    output: 'runs/demo',
    stages: [
      { name: 'stage1', data: [{ path: 'data/retrieval.jsonl', instruction: 'Given a web search query, retrieve relevant passages that answer the query' }] },
      { name: 'stage2', data: ['data/retrieval.jsonl', { path: 'data/sts.jsonl', task: 'STSBenchmark' }] },
    ],
  }, null, '\t');
  const j = loadTrainConfig(write('same.json', asJson));
  const strip = (c: TrainConfig) => ({ ...c, file: undefined });
  assert.deepEqual(strip(j), strip(y));
  const o = loadTrainConfig(join(dir, 'same.json'), { overrides: ['stages[0].steps=100', 'stages[1].lr=1e-4', 'stages[1].families=[retrieval, pair]', 'seed=7'] });
  assert.equal(o.stages[0]!.steps, 100);
  assert.equal(o.stages[0]!.warmup, 10, 'an unset warmup shrinks to a tenth of a shortened stage');
  assert.equal(o.stages[1]!.warmup, 300);
  assert.equal(o.stages[1]!.lr, 1e-4);
  assert.deepEqual(o.stages[1]!.families, ['retrieval', 'pair']);
  assert.equal(o.seed, 7);
  assert.equal(o.stages[1]!.seed, 7);
});

test('validation errors name the file, line, column, field path and problem — all of them at once', () => {
  const p = write(
    'bad.yaml',
    `model:
  path: model
output: out
stages:
  - data: [data/retrieval.jsonl]
    lr: fast
    warmup_steps: 10
  - data: [data/missing.jsonl]
    lr: -1
    schedule: step
    batchSize: { retrieval: 0, cosent: 8 }
    betas: [0.9, 1.5]
    temperature: 0
`,
  );
  assert.deepEqual(issuesOf(() => loadTrainConfig(p)), [
    'bad.yaml:7:5 stages[0].warmup_steps: unknown field (did you mean "warmup"?)',
    'bad.yaml:6:9 stages[0].lr: expected a number, got the string "fast"',
    'bad.yaml:9:9 stages[1].lr: must be > 0, got -1',
    'bad.yaml:10:15 stages[1].schedule: expected one of "constant", "linear", "cosine", got the string "step"',
    'bad.yaml:11:32 stages[1].batchSize.cosent: unknown field; known fields: retrieval, pair, cls',
    'bad.yaml:11:29 stages[1].batchSize.retrieval: must be ≥ 1, got 0',
    'bad.yaml:13:18 stages[1].temperature: must be > 0, got 0',
    'bad.yaml:12:18 stages[1].betas[1]: must be < 1, got 1.5',
    `bad.yaml:8:12 stages[1].data[0].path: ${join(dir, 'data/missing.jsonl')} does not exist`,
  ]);
});

test('JSON errors: syntax with line and column; duplicate keys; positions for field errors', () => {
  const syntax = write('syntax.json', '{\n  "model": {"path": "model"},\n  "output": "x",\n}\n');
  assert.deepEqual(issuesOf(() => loadTrainConfig(syntax)).map((s) => s.replace(/invalid JSON: .*/, 'invalid JSON')), ['syntax.json:4:1 (root): invalid JSON']);
  const dup = write('dup.json', '{"model": {"path": "model"}, "output": "a", "output": "b", "stages": []}');
  assert.match(issuesOf(() => loadTrainConfig(dup))[0]!, /^dup\.json:1:45 \(root\): invalid JSON: Map keys must be unique/);
  const field = write('field.json', '{\n  "model": {"path": "model"},\n  "output": "x",\n  "stages": [\n    {"data": ["data"], "steps": 1.5}\n  ]\n}\n');
  assert.deepEqual(issuesOf(() => loadTrainConfig(field)), ['field.json:5:33 stages[0].steps: expected an integer, got 1.5']);
});

test('YAML syntax errors and duplicate keys report their line', () => {
  const p = write('syntax.yaml', 'model:\n  path: model\n  path: other\noutput: [x\n');
  const issues = issuesOf(() => loadTrainConfig(p));
  assert.ok(issues.some((i) => /^syntax\.yaml:3:3 \(root\): invalid YAML: Map keys must be unique/.test(i)), issues.join('\n'));
  assert.ok(issues.length >= 2, 'the unterminated flow sequence is reported too');
});

test('required fields, model choice, unknown presets, file kinds', () => {
  assert.deepEqual(issuesOf(() => resolveTrainConfig({ stages: [] }, { baseDir: dir })), [
    'config model: required (a checkpoint path, or init from a model config)',
    'config output: required (the folder for checkpoints and metrics)',
    'config stages: must not be empty',
  ]);
  assert.deepEqual(
    issuesOf(() => resolveTrainConfig({ model: { path: 'model', init: { config: 'c' } }, output: 'o', stages: [{ preset: 'huge' }] }, { baseDir: dir })),
    [
      'config model: give exactly one of "path" (a checkpoint directory) or "init" (random initialisation)',
      'config stages[0].preset: expected one of "paper-stage1", "paper-stage2", "small-stage1", "small-stage2", got the string "huge"',
      'config stages[0].data: required (canonical JSONL files or directories)',
    ],
  );
  assert.deepEqual(
    issuesOf(() => resolveTrainConfig({ model: { init: { config: 'data', tokenizer: 'tiny-config.json' } }, output: 'o', stages: [{ data: ['data'] }] }, { baseDir: dir })),
    [`config model.init.config: ${join(dir, 'data')} is not a file`, `config model.init.tokenizer: ${join(dir, 'tiny-config.json')} is not a directory`],
  );
  // Random init resolves both paths; path checks can be turned off for configs written ahead of the data.
  const ok = resolveTrainConfig({ model: { init: { config: 'tiny-config.json', tokenizer: 'tok', seed: 3 } }, output: 'o', stages: [{ data: ['later.jsonl'] }] }, { baseDir: dir, checkPaths: false });
  assert.deepEqual(ok.model.init, { config: join(dir, 'tiny-config.json'), tokenizer: join(dir, 'tok'), seed: 3 });
});

test('cross-field rules: warmup vs steps, minLrRatio only for cosine, retrievalShare needs retrieval, unique stage names', () => {
  const base = { model: { path: 'model' }, output: 'o' };
  assert.deepEqual(
    issuesOf(() =>
      resolveTrainConfig(
        {
          ...base,
          stages: [
            { name: 'a', data: ['data'], steps: 100, warmup: 300, minLrRatio: 0.1 },
            { name: 'a', data: ['data'], families: ['pair', 'cls', 'pair'], retrievalShare: 0.5 },
          ],
        },
        { baseDir: dir },
      ),
    ),
    [
      "config stages[0].warmup: warmup (300) exceeds the stage's steps (100); the peak learning rate would never be reached",
      'config stages[0].minLrRatio: applies to the cosine schedule only (this stage uses "linear")',
      'config stages[1].families[2]: "pair" listed twice',
      'config stages[1].retrievalShare: set, but "retrieval" is not among the families',
    ],
  );
  // Without retrieval data the stage-2 preset's share is dropped rather than an error.
  const s = resolveTrainConfig({ ...base, stages: [{ preset: 'paper-stage2', data: ['data'], families: ['pair'] }] }, { baseDir: dir }).stages[0]!;
  assert.equal(s.retrievalShare, null);
  assert.match(issuesOf(() => resolveTrainConfig({ ...base, stages: [{ data: ['data'] }, { name: 'stage1', data: ['data'] }] }, { baseDir: dir }))[0]!, /stages\[1\]\.name: duplicate stage name "stage1" \(also stages\[0\]\)/);
});

test('LoRA, eval, batch sizes, small preset and explicit values', () => {
  const cfg = resolveTrainConfig(
    {
      model: { path: 'model', attention: 'bidirectional', pooling: 'mean' },
      output: 'o',
      preset: 'small',
      seed: 5,
      stages: [
        {
          data: ['data'],
          lora: { rank: 8, targets: ['q_proj', 'v_proj'] },
          eval: { every: 100, tasks: ['Banking77Classification'] },
          batchSize: 32,
          schedule: 'cosine',
          minLrRatio: 0.1,
          gradClip: null,
          betas: [0.9, 0.98],
          noDecay: [],
          seed: 9,
        },
        { data: ['data'], batchSize: { pair: 96 }, maxLength: { passage: 256 } },
      ],
    },
    { baseDir: dir },
  );
  const [a, b] = cfg.stages;
  assert.equal(a!.preset, 'small-stage1');
  assert.deepEqual(a!.lora, { rank: 8, alpha: 16, dropout: 0, targets: ['q_proj', 'v_proj'] });
  assert.deepEqual(a!.eval, { every: 100, tasks: ['Banking77Classification'] });
  assert.deepEqual(a!.batchSize, { retrieval: 32, pair: 32, cls: 32 });
  assert.equal(a!.minLrRatio, 0.1);
  assert.equal(a!.gradClip, null);
  assert.deepEqual(a!.betas, [0.9, 0.98]);
  assert.deepEqual(a!.noDecay, []);
  assert.equal(a!.seed, 9);
  assert.equal(b!.preset, 'small-stage2');
  assert.deepEqual(b!.batchSize, { ...stagePreset('small-stage2').batchSize, pair: 96 });
  assert.deepEqual(b!.maxLength, { query: stagePreset('small-stage2').maxLength.query, passage: 256 });
  assert.equal(b!.seed, 5);
  assert.deepEqual(cfg.model, { path: join(dir, 'model'), attention: 'bidirectional', pooling: 'mean' });
  assert.deepEqual(
    issuesOf(() => resolveTrainConfig({ model: { path: 'model' }, output: 'o', stages: [{ data: [{ path: 'data', task: 'NoSuchTask', instruction: 'x' }], lora: { alpha: 2, r: 4 }, eval: { every: 0 } }] }, { baseDir: dir })),
    [
      'config stages[0].lora.r: unknown field (did you mean "rank"?)',
      'config stages[0].lora.rank: required (adapter rank, e.g. 16)',
      'config stages[0].eval.every: must be ≥ 1, got 0',
      'config stages[0].eval.tasks: required (evaluation task names)',
      'config stages[0].data[0].task: give either "instruction" or "task", not both',
      'config stages[0].data[0].task: "NoSuchTask" is not in the instruction tables (src/model/instructions.ts); give "instruction" instead',
    ],
  );
});

test('overrides: malformed ones are named, and errors in overridden values point at the --set', () => {
  const p = write('ov.yaml', TWO_STAGES_YAML);
  assert.deepEqual(issuesOf(() => loadTrainConfig(p, { overrides: ['stages[0].steps'] })), ['--set stages[0].steps (root): expected path=value, e.g. stages[0].steps=100']);
  assert.deepEqual(issuesOf(() => loadTrainConfig(p, { overrides: ['stages[0]..steps=1'] })), ['--set stages[0]..steps=1 stages[0]..steps: not a field path (e.g. stages[0].lr or model.path)']);
  assert.deepEqual(issuesOf(() => loadTrainConfig(p, { overrides: ['stages[1].lr=fast'] })), ['--set stages[1].lr=fast stages[1].lr: expected a number, got the string "fast"']);
  assert.deepEqual(issuesOf(() => loadTrainConfig(p, { overrides: ['stages[0].stepz=5'] })), ['--set stages[0].stepz=5 stages[0].stepz: unknown field (did you mean "steps"?)']);
  // A section only the override created is named at the override, not at a line of the file.
  assert.deepEqual(issuesOf(() => loadTrainConfig(p, { overrides: ['modle.path=x'] })), ['--set modle.path=x modle: unknown field; known fields: model, output, seed, preset, stages, keepCheckpoints']);
});

test('unreadable or unknown-format files', () => {
  assert.deepEqual(issuesOf(() => loadTrainConfig(join(dir, 'nope.yaml'))), ['nope.yaml (root): cannot read the config file (ENOENT)']);
  assert.deepEqual(issuesOf(() => loadTrainConfig(write('c.toml', 'x'))), ['c.toml (root): unknown config format ".toml" (use .json, .yaml or .yml)']);
  assert.deepEqual(issuesOf(() => parseTrainConfig('- 1\n- 2\n', { format: 'yaml', file: 'list.yaml', baseDir: dir })), ['list.yaml:1:1 (root): expected a mapping of fields, got a list']);
});

test('training instructions: record over source; retrieval puts them on queries, pair and cls on both sides', () => {
  const src = { instruction: 'Given a web search query, retrieve relevant passages that answer the query' };
  assert.equal(trainingInstruction('retrieval', 'query', src), src.instruction);
  assert.equal(trainingInstruction('retrieval', 'document', src), undefined);
  assert.equal(trainingInstruction('retrieval', 'document', { ...src, sides: 'both' }), src.instruction);
  assert.equal(trainingInstruction('cls', 'document', { instruction: 'Classify' }), 'Classify');
  assert.equal(trainingInstruction('pair', 'query', { instruction: 'Similar', sides: 'query' }), 'Similar');
  assert.equal(trainingInstruction('pair', 'document', { instruction: 'Similar', sides: 'query' }), undefined);
  assert.equal(trainingInstruction('retrieval', 'query', src, 'Own instruction'), 'Own instruction');
  assert.equal(trainingInstruction('retrieval', 'query', {}), undefined);
  // Through the config: a task name brings the table's sides (Banking77: both).
  const cfg = resolveTrainConfig({ model: { path: 'model' }, output: 'o', stages: [{ data: [{ path: 'data', task: 'Banking77Classification' }, { path: 'data', task: 'FiQA2018' }] }] }, { baseDir: dir });
  const [b77, fiqa] = cfg.stages[0]!.data;
  assert.equal(trainingInstruction('cls', 'document', b77!), 'Given a online banking query, find the corresponding intents');
  assert.equal(trainingInstruction('retrieval', 'document', fiqa!), undefined);
});

test('part 2 fields: inline model config, LoRA base dtype, evaluation data folder and splits, keepCheckpoints', () => {
  const ok = resolveTrainConfig({
    model: { init: { config: { model_type: 'bert', hidden_size: 8 }, tokenizer: 'tok' }, dtype: 'int4' },
    output: 'o',
    keepCheckpoints: 2,
    stages: [{ data: ['later.jsonl'], eval: { every: 5, tasks: ['STSBenchmark', './tasks/mine'], dataDir: 'evaldata', splits: ['validation'] } }],
  }, { baseDir: dir, checkPaths: false });
  assert.deepEqual(ok.model.init, { config: { model_type: 'bert', hidden_size: 8 }, tokenizer: join(dir, 'tok'), seed: 0 });
  assert.equal(ok.model.dtype, 'int4');
  assert.equal(ok.keepCheckpoints, 2);
  assert.deepEqual(ok.stages[0]!.eval, { every: 5, tasks: ['STSBenchmark', join(dir, 'tasks/mine')], dataDir: join(dir, 'evaldata'), splits: ['validation'] });
  assert.deepEqual(
    issuesOf(() => resolveTrainConfig({
      model: { init: { config: { hidden_size: 8 }, tokenizer: 'tok' }, dtype: 'f16' },
      output: 'o',
      keepCheckpoints: 0,
      stages: [{ data: ['x.jsonl'], eval: { every: 5, tasks: ['STSBenchmark'], splits: [] } }],
    }, { baseDir: dir, checkPaths: false })),
    [
      'config model.init.config.model_type: required (qwen2, qwen3 or bert)',
      'config model.dtype: expected one of "f32", "int8", "int4", got the string "f16"',
      'config stages[0].eval.splits: must not be empty',
      'config keepCheckpoints: must be ≥ 1, got 0',
    ],
  );
});
