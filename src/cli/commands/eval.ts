// `qzhou eval`: MTEB-compatible evaluation of a checkpoint, an OpenAI-compatible endpoint or the TF-IDF
// baseline on registry tasks, a benchmark or task folders. A thin layer over src/eval.
import { basename, dirname, resolve } from 'node:path';
import { checkOutputPath, numberFlag, parseFlags, UsageError, type Command } from '../command.js';
import { tryStat } from '../../util/paths.js';

const usage = `usage: qzhou eval --model MODEL (--tasks A,B,... | --benchmark NAME) [options]
       qzhou eval --summarize RESULTS_FOLDER --benchmark NAME
       qzhou eval --list-tasks

Scores embedding models with mteb 1.38.30's evaluation rules and writes one mteb-layout JSON per task.

Model (--model):
  DIR                 a Hugging Face checkpoint folder (loaded by the model runtime)
  openai:URL          an OpenAI-compatible /v1/embeddings endpoint, e.g. openai:http://localhost:8000/v1
                      (API key from QZHOU_API_KEY or OPENAI_API_KEY)
  tfidf               the TF-IDF baseline, fitted per task (classification: on the train split)

Tasks:
  --tasks LIST        comma-separated registry task names and/or task folder paths
  --benchmark NAME    "MTEB(eng, v2)" or "MTEB(cmn, v1)"
  --data-dir DIR      folder holding one dataset folder per registry task (HF layout; see docs/eval.md)
  --splits LIST       evaluate these splits instead (e.g. validation)
  --subsets LIST      evaluate these HF subsets instead (e.g. en)
  --cmn-convention C  published (MultilingualSentiment validation only; default) or 2.x

Output:
  --output DIR        results root: DIR/<model>/<revision>/<Task>.json (default: results)
  --model-name NAME   folder name for the model (default: the endpoint model, or the checkpoint folder's
                      name, with its parent's for the trainer's "model" / "checkpoint-N" folders:
                      runs/banking77/stage2/model → stage2-model)
  --model-revision R  (default: no_revision_available)
  --overwrite         re-run tasks that already have a result file (default: skip them = resume; a file
                      that another model wrote, per the folder's qzhou/identity.json, is an error unless
                      --overwrite, which recomputes and replaces it)
  --json              print the report as JSON on stdout instead of tables

Embedding:
  --cache-dir DIR     embedding cache (default $QZHOU_CACHE/embeddings or ~/.cache/qzhou/embeddings)
  --no-cache          do not read or write the embedding cache
  --no-instructions   embed raw texts, without task instructions

Checkpoint options:   --device cpu|webgpu|cuda  --dtype f32|f16|int8|int4  --max-length N  --batch-tokens N
Endpoint options:     --remote-model NAME  --batch-size N (64)  --concurrency N (4)  --max-retries N (6)
                      --prompt-template T (default "Instruct: {instruction}\\nQuery: ")  --dimensions N
TF-IDF options:       --tfidf-max-features N (8192)  --tfidf-ngrams N (1)  --tfidf-char-ngrams N

Examples (in the qzhou repository, whose data/ holds Banking77's test split and STS-B's dev split):
  qzhou eval --model tfidf --tasks Banking77Classification --data-dir data --output results
  qzhou eval --model tfidf --tasks STSBenchmark --splits validation --data-dir data --output results`;

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

export const command: Command = {
  name: 'eval',
  summary: 'evaluate a model on MTEB / C-MTEB tasks or your own task folders (mteb-identical scores)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: 'string' },
      tasks: { type: 'string' },
      benchmark: { type: 'string' },
      'data-dir': { type: 'string' },
      splits: { type: 'string' },
      subsets: { type: 'string' },
      'cmn-convention': { type: 'string' },
      output: { type: 'string' },
      'model-name': { type: 'string' },
      'model-revision': { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
      'cache-dir': { type: 'string' },
      'no-cache': { type: 'boolean' },
      'no-instructions': { type: 'boolean' },
      device: { type: 'string' },
      dtype: { type: 'string' },
      'max-length': { type: 'string' },
      'batch-tokens': { type: 'string' },
      'remote-model': { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      'max-retries': { type: 'string' },
      'prompt-template': { type: 'string' },
      dimensions: { type: 'string' },
      'tfidf-max-features': { type: 'string' },
      'tfidf-ngrams': { type: 'string' },
      'tfidf-char-ngrams': { type: 'string' },
      summarize: { type: 'string' },
      'list-tasks': { type: 'boolean' },
    });
    const ev = await import('../../eval/index.js');

    if (values['list-tasks']) {
      const rows = ev.listTasks().map((t) => `${t.name.padEnd(40)} ${t.type.padEnd(18)} ${t.mainScore.padEnd(16)} ${t.evalSplits.join(',')}`);
      console.log(rows.join('\n'));
      return 0;
    }
    const convention = values['cmn-convention'] ?? 'published';
    if (convention !== 'published' && convention !== '2.x') throw new UsageError(`--cmn-convention: expected published or 2.x, got "${convention}"`);

    if (values.summarize !== undefined) {
      if (!values.benchmark) throw new UsageError('--summarize needs --benchmark');
      if (!tryStat(values.summarize)?.isDirectory()) throw new UsageError(`--summarize ${values.summarize}: no such folder`);
      const summary = ev.summarizeBenchmark(ev.getBenchmark(values.benchmark, convention), ev.readResultsFolder(values.summarize));
      console.log(values.json ? JSON.stringify(summary, null, 2) : ev.formatBenchmarkSummary(summary));
      return 0;
    }

    const spec = values.model;
    if (!spec) throw new UsageError('--model is required (a checkpoint folder, openai:URL or tfidf)');
    if (!values.tasks && !values.benchmark) throw new UsageError('give --tasks or --benchmark');
    checkOutputPath('--output', values.output ?? 'results', { kind: 'folder' });
    const progress = ev.streamProgress();

    let model: import('../../eval/index.js').EvalModel;
    let modelName = values['model-name'];
    let close: (() => Promise<void>) | undefined;
    if (spec === 'tfidf') {
      const ngrams = numberFlag('tfidf-ngrams', values['tfidf-ngrams'], 1);
      const charNgrams = values['tfidf-char-ngrams'] ? numberFlag('tfidf-char-ngrams', values['tfidf-char-ngrams'], 2) : undefined;
      const maxFeatures = numberFlag('tfidf-max-features', values['tfidf-max-features'], 8192);
      model = ev.TfidfEmbedder.perTask({ maxFeatures, ngramRange: [1, ngrams], ...(charNgrams ? { charNgramRange: [1, charNgrams] as [number, number] } : {}) });
      modelName ??= 'tfidf';
    } else if (spec.startsWith('openai:')) {
      const url = spec.slice('openai:'.length);
      if (!/^https?:\/\//.test(url)) throw new UsageError(`--model ${spec}: expected openai:http(s)://host[:port]/v1`);
      const remote = await ev.OpenAIEmbedder.create({
        url,
        model: values['remote-model'],
        batchSize: numberFlag('batch-size', values['batch-size'], 64),
        concurrency: numberFlag('concurrency', values.concurrency, 4),
        maxRetries: numberFlag('max-retries', values['max-retries'], 6),
        ...(values['prompt-template'] !== undefined ? { promptTemplate: values['prompt-template'].replace(/\\n/g, '\n') } : {}),
        ...(values.dimensions ? { dimensions: numberFlag('dimensions', values.dimensions, 0) } : {}),
      });
      model = remote;
      modelName ??= values['remote-model'] ?? new URL(url).host;
    } else {
      const device = values.device;
      if (device !== undefined && device !== 'cpu' && device !== 'webgpu' && device !== 'cuda') throw new UsageError(`--device: expected cpu, webgpu or cuda, got "${device}"`);
      const dtype = values.dtype;
      if (dtype !== undefined && dtype !== 'f32' && dtype !== 'f16' && dtype !== 'int8' && dtype !== 'int4') throw new UsageError(`--dtype: expected f32, f16, int8 or int4, got "${dtype}"`);
      const { loadEmbedder } = await import('../../model/index.js');
      const embedder = await loadEmbedder(spec, {
        ...(device ? { device } : {}),
        ...(dtype ? { dtype } : {}),
        ...(values['max-length'] ? { maxLength: numberFlag('max-length', values['max-length'], 0) } : {}),
        ...(values['batch-tokens'] ? { batchTokens: numberFlag('batch-tokens', values['batch-tokens'], 0) } : {}),
      });
      model = embedder;
      close = () => embedder.close();
      modelName ??= defaultCheckpointName(spec);
    }

    try {
      const report = await ev.evaluate({
        model,
        tasks: list(values.tasks),
        benchmark: values.benchmark,
        cmnConvention: convention,
        dataDir: values['data-dir'],
        outputDir: values.output ?? 'results',
        modelName,
        modelRevision: values['model-revision'],
        splits: list(values.splits),
        subsets: list(values.subsets),
        cacheDir: values['no-cache'] ? false : values['cache-dir'],
        instructions: !values['no-instructions'],
        overwrite: values.overwrite ?? false,
        progress,
      });
      if (values.json) {
        console.log(JSON.stringify({ folder: report.folder, tasks: report.rows, summary: report.summary ?? null, failures: report.failures, warnings: report.warnings }, null, 2));
      } else {
        if (report.rows.length) console.log(ev.formatTaskTable(report.rows));
        if (report.summary) console.log(`\n${ev.formatBenchmarkSummary(report.summary)}`);
        if (report.folder) console.log(`\nresults: ${report.folder}`);
      }
      if (report.failures.length) {
        console.error(`\n${report.failures.length} task(s) failed:\n${report.failures.map((f) => `  ${f.task}: ${f.error}`).join('\n')}`);
        return 1;
      }
      return 0;
    } finally {
      await close?.();
    }
  },
};

/**
 * The default result-folder name of a checkpoint: its folder name, or for the generic folder names the
 * trainer and the pipeline write (`model`, `checkpoint-N`), the parent's name joined to it, so that
 * `runs/x/stage1/model` and `runs/x/stage2/model` do not share (and silently reuse) one result folder.
 */
export function defaultCheckpointName(dir: string): string {
  const full = resolve(dir);
  const base = basename(full) || 'model';
  if (!/^(model|checkpoint-\d+)$/.test(base)) return base;
  const parent = basename(dirname(full));
  return parent ? `${parent}-${base}` : base;
}
