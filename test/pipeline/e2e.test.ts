// `qzhou pipeline` end to end as real processes on a tiny configuration (Banking77 and STS-B samples from
// data/, a fake LLM endpoint, a 1-layer model): a reference run, then a run SIGKILLed in the middle of
// stage 2, copied to another place (the original deleted) and run again there. The rerun reuses every
// finished step, resumes stage 2 from its checkpoint, and ends with the same model bytes and scores as the
// uninterrupted run; its report passes the browser checks. `--force stage1` then retrains stage 1 from an
// empty folder (not a resume of the finished one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeOutputs } from '../../src/pipeline/index.js';
import { Browser, findChromium } from '../report/browser.js';
import { checkReportPage } from '../report/page-checks.js';
import { startFakeLlm } from './fake-llm.js';

const root = resolve(import.meta.dirname, '../..');
const data = join(root, 'data');

function tinyConfig(llmUrl: string): string {
  return `
name: tiny
seed: 7
sources:
  banking77:
    type: cls
    input: ${data}/banking77/train.csv
    map: { label: category }
    task: Banking77Classification
    sample: 300
  stsb:
    type: sts
    input: ${data}/stsbenchmark/sts-train.csv
    format: tsv
    quote: false
    columns: [genre, file, year, id, score, sentence1, sentence2]
    task: STSBenchmark
    sample: 500
    decontaminate:
      - { path: ${data}/stsbenchmark/sts-dev.csv, format: tsv, quote: false, columns: [g, f, y, i, s, sentence1, sentence2], fields: [sentence1, sentence2] }
    retrieval: { minScore: 3.5, task: STSBenchmark }
synth:
  baseUrl: ${llmUrl}
  model: fake-llm
  jobs:
    - { generator: paraphrase, source: banking77, limit: 12, maxTries: 2 }
mine: { retriever: hashing, range: [2, 12], negatives: 2 }
model:
  init: { architecture: bert, hiddenSize: 32, layers: 1, heads: 2, intermediateSize: 64, maxPositions: 64, tokenizer: { vocabSize: 500 } }
train:
  stage1: { steps: 4, batchSize: { retrieval: 16 }, maxLength: { query: 32, passage: 32 }, checkpointEvery: 2 }
  stage2: { steps: 30, batchSize: { retrieval: 16, pair: 32, cls: 16 }, maxLength: { query: 32, passage: 32 }, checkpointEvery: 5 }
eval:
  dataDir: ${data}
  tasks: [{ task: STSBenchmark, splits: [validation] }]
  baselines: [tfidf, init]
`;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runPipeline(config: string, output: string, cache: string, killWhen?: () => boolean, extra: string[] = []): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'pipeline', '--config', config, '--output', output, ...extra], {
      cwd: root,
      env: { ...process.env, QZHOU_CACHE: cache, QZHOU_LLM_BASE_URL: '', QZHOU_LLM_MODEL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timer: NodeJS.Timeout | undefined;
    if (killWhen) {
      timer = setInterval(() => {
        if (killWhen()) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 10);
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearInterval(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

const marker = (run: string, step: string) => JSON.parse(readFileSync(join(run, step, '_DONE.json'), 'utf8')) as Record<string, unknown>;

test('pipeline: kill -9 during stage 2, folder moved, rerun: finished steps reused, same final model and scores; --force retrains', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-pipeline-e2e-'));
  const llm = await startFakeLlm();
  try {
    const config = join(dir, 'tiny.yaml');
    writeFileSync(config, tinyConfig(llm.url));
    const cache = join(dir, 'cache');

    // Reference: one uninterrupted run.
    const runA = join(dir, 'run-a');
    const a = await runPipeline(config, runA, cache);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^report: .*run-a\/report\/report\.html$/m);
    const requestsAfterA = llm.requests;
    assert.ok(requestsAfterA > 0, 'the synthesis step called the endpoint');

    // Killed in the middle of stage 2, once its first checkpoint is on disk.
    const killedAt = join(dir, 'run-killed');
    const killed = await runPipeline(config, killedAt, cache, () => existsSync(join(killedAt, 'stage2', 'stage2', 'checkpoint-5')));
    assert.equal(killed.signal, 'SIGKILL', `expected the run to be killed during stage 2:\n${killed.stderr}`);
    assert.ok(!existsSync(join(killedAt, 'stage2', '_DONE.json')), 'stage 2 was not finished');
    // The run folder is copied elsewhere (new modification times) and the original deleted: no identity
    // (step fingerprints, the trainer's resume check) may depend on where it is.
    const runB = join(dir, 'moved', 'run-b');
    cpSync(killedAt, runB, { recursive: true });
    rmSync(killedAt, { recursive: true, force: true });
    const before = Object.fromEntries(['transform', 'synth', 'mine', 'init', 'stage1'].map((s) => [s, marker(runB, s).finishedAt]));

    const b = await runPipeline(config, runB, cache);
    assert.equal(b.code, 0, b.stderr);
    for (const [i, s] of ['transform', 'synth', 'mine', 'init', 'stage1'].entries()) {
      assert.match(b.stderr, new RegExp(`\\[${i + 1}/8\\] ${s}: complete from an earlier run, reused`), `${s} was reused`);
      assert.equal(marker(runB, s).finishedAt, before[s], `${s} was not redone`);
    }
    assert.match(b.stderr, /\[6\/8\] stage2: .* — resuming \(attempt 2\)/);
    assert.match(b.stderr, /stage2: resuming from the latest checkpoint/);
    assert.match(b.stderr, /resuming after step 5/);
    assert.equal(marker(runB, 'stage2').attempts, 2);
    // The cached synthesis answers were not asked for again by the second run's steps.
    assert.equal(llm.requests, 2 * requestsAfterA, 'run B made the same requests as run A (its own synthesis), and none after the kill');

    // Same final outputs as the uninterrupted run: the trained model, bit for bit, and its scores.
    const modelA = await describeOutputs(join(runA, 'stage2'), ['model']);
    const modelB = await describeOutputs(join(runB, 'stage2'), ['model']);
    assert.ok(modelA.some((f) => f.path === 'model/model.safetensors'));
    assert.deepEqual(modelB, modelA);
    const rows = (run: string) => (marker(run, 'eval').summary as { rows: { model: string; score: number }[] }).rows.map((r) => [r.model, r.score]);
    assert.deepEqual(rows(runB), rows(runA));
    assert.deepEqual(rows(runA).map((r) => r[0]), ['tiny', 'tiny-init', 'tfidf']);
    for (const f of ['tiny', 'tiny-init', 'tfidf']) assert.ok(existsSync(join(runB, 'eval/results', f, 'no_revision_available/STSBenchmark.json')), `mteb-layout result of ${f}`);

    // What the data steps did is in their markers (and the report).
    const synth = marker(runB, 'synth').summary as { jobs: { outputs: number; rejections: Record<string, number> }[] };
    assert.ok(synth.jobs[0]!.outputs > 0, 'paraphrases were accepted');
    assert.ok((synth.jobs[0]!.rejections.too_similar ?? 0) > 0, 'copies of the original were rejected');
    const md = readFileSync(join(runB, 'report/report.md'), 'utf8');
    assert.match(md, /\| paraphrase-banking77 \| paraphrase \| banking77 \| 12 \| \d+ \| \d+ \| too\\_similar \d+/);
    assert.match(md, /!\[Training loss: cls\]\(plots\/loss-cls\.svg\)/);

    // --force stage1 --until stage1: stage 1 is trained again from an empty folder (not "resumed" as
    // complete), giving the same model; stage 2 is left for a later run.
    const stage1Before = await describeOutputs(join(runB, 'stage1'), ['model']);
    const finishedBefore = marker(runB, 'stage1').finishedAt;
    const forced = await runPipeline(config, runB, cache, undefined, ['--force', 'stage1', '--until', 'stage1']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /\[5\/8\] stage1: .* — running \(forced\)/);
    assert.doesNotMatch(forced.stderr, /resuming/);
    assert.equal(marker(runB, 'stage1').attempts, 1);
    assert.notEqual(marker(runB, 'stage1').finishedAt, finishedBefore);
    assert.deepEqual(await describeOutputs(join(runB, 'stage1'), ['model']), stage1Before, 'stage 1 retrained to the same weights');

    const chromium = findChromium();
    if (!chromium) {
      process.stderr.write('\n*** SKIPPING the browser check of the pipeline report: no Chromium binary (apt-get install -y chromium) ***\n\n');
      return;
    }
    const browser = await Browser.launch(chromium);
    try {
      const url = pathToFileURL(join(runB, 'report/report.html')).href;
      const { session, events } = await browser.open(url);
      const page = await checkReportPage(browser, session, events, url);
      assert.deepEqual(page.problems, []);
      assert.equal(page.evalRows, 1);
      assert.deepEqual(page.evalFirstRow.slice(0, 3), ['STSBenchmark', 'validation', 'cosine_spearman']);
      assert.deepEqual(page.charts.map((c) => c.id).sort(), ['plot-data', 'plot-eval', 'plot-loss-cls', 'plot-loss-pair', 'plot-loss-retrieval', 'plot-lr', 'plot-throughput'], 'one loss chart per task family');
    } finally {
      await browser.close();
    }
  } finally {
    await llm.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
