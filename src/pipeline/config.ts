// The pipeline config (`qzhou pipeline --config pipeline.yaml`): raw sources, optional LLM synthesis,
// hard-negative mining, the model to start from (a checkpoint, or a tokenizer + random initialisation),
// the two training stages, evaluation and the report. YAML or JSON; relative paths are resolved against
// the config file's folder; every problem is reported at once as `file:line:column: field: problem`.
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { applyOverrides, overrideSource } from '../train/config.js';
import { TRANSFORMS, type TransformType } from '../data/transforms.js';
import type { ReadOptions } from '../data/readers.js';
import { findTask } from '../eval/tasks.js';
import { locateTask } from '../eval/datasets.js';
import { taskInstruction } from '../model/instructions.js';
import { Checker, LocatedDocument, PipelineConfigError, describe, type PathSeg } from './config-checker.js';
import { validateStageFields } from './steps/train.js';

export { PipelineConfigError, type ConfigIssue } from './config-checker.js';

export type RecordFamily = 'retrieval' | 'pair' | 'cls';
export type StageName = 'stage1' | 'stage2';
export type InstructionSides = 'query' | 'both';

/** How to read one tabular/JSON file (src/data readers). */
export interface FileRead {
  format?: 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet';
  delimiter?: string;
  quote?: boolean;
  /** Column names for a header-less file, or false for numbered columns. */
  header?: boolean | string[];
}

export interface DecontaminationSpec {
  path: string;
  read: FileRead;
  /** Only these fields' texts (default: every string of each record). */
  fields?: string[];
}

export interface SourceSpec {
  /** The source's key in the config; also its default dataset name and output file name. */
  name: string;
  /** Transformation (src/data): cls, sts, nli, qa, triples, canonical, … */
  type: TransformType;
  inputs: string[];
  read: FileRead;
  /** role → column. */
  map?: Record<string, string>;
  dataset: string;
  /** Training instruction for this source's records (or `task`: the QZhou instruction table's). */
  instruction?: string;
  task?: string;
  sides?: InstructionSides;
  onError: 'fail' | 'skip';
  dedup: 'none' | 'exact' | 'normalized';
  /** Keep a seeded random sample of this many canonical records (small demo/test runs). */
  sample?: number;
  /** Evaluation files whose texts must not occur in the training records. */
  decontaminate: DecontaminationSpec[];
  /** Also derive retrieval records (text1 → text2) from pairs scoring at least minScore. */
  retrieval?: { minScore: number; dataset: string; instruction?: string; task?: string; sides?: InstructionSides };
}

export interface SynthJobSpec {
  generator: 'paraphrase' | 'augment' | 'hard-negative';
  /** A source name, or a derived retrieval set's dataset name. */
  source: string;
  limit?: number;
  n?: number;
  maxTries?: number;
}

export interface SynthSpec {
  /** Endpoint; unset values come from $QZHOU_LLM_BASE_URL / $QZHOU_LLM_MODEL. */
  baseUrl?: string;
  model?: string;
  /** Name of the environment variable holding the API key (default QZHOU_LLM_API_KEY, then OPENAI_API_KEY). */
  apiKeyEnv?: string;
  concurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  pricing?: { inputPerMillion: number; outputPerMillion: number };
  jobs: SynthJobSpec[];
}

export interface MineSpec {
  /** 'hashing' (lexical, built in), 'hashing:DIM', or a checkpoint folder. */
  retriever: string;
  range: [number, number];
  negatives: number;
  relativeMargin: number | null;
  seed: number;
}

export interface ModelInitSpec {
  architecture: 'bert' | 'qwen2';
  hiddenSize: number;
  layers: number;
  heads: number;
  /** Qwen2 only: key/value heads (grouped-query attention). */
  kvHeads?: number;
  intermediateSize: number;
  maxPositions: number;
  /** Extra config.json fields (win over the generated ones). */
  config: Record<string, unknown>;
  tokenizer: { vocabSize: number; minFrequency: number; lowercase?: boolean };
  seed: number;
}

export interface ModelSpec {
  /** Start from an existing checkpoint folder instead of a random initialisation. */
  path?: string;
  init?: ModelInitSpec;
  attention?: 'bidirectional' | 'causal';
}

export interface TrainSpec {
  preset: 'small' | 'paper';
  /** Stage fields for the trainer (src/train StageConfig, minus name and data, which the pipeline fills). */
  stage1: Record<string, unknown>;
  stage2: Record<string, unknown>;
}

export interface EvalTaskSpec {
  task: string;
  splits?: string[];
}

export interface EvalSpec {
  dataDir: string;
  tasks: EvalTaskSpec[];
  /** Models scored beside the trained one: the TF-IDF baseline and the untrained starting model. */
  baselines: ('tfidf' | 'init')[];
  /** Model runtime options for loading the checkpoints (src/model): e.g. int8 or cuda for a 7B model. */
  batchTokens?: number;
  dtype?: 'f32' | 'f16' | 'int8' | 'int4';
  device?: 'cpu' | 'webgpu' | 'cuda';
}

export interface PipelineConfig {
  /** Absolute path of the config file. */
  file: string;
  name: string;
  /** The run folder (absolute). */
  output: string;
  seed: number;
  sources: SourceSpec[];
  synth: SynthSpec | null;
  mine: MineSpec;
  model: ModelSpec;
  train: TrainSpec;
  eval: EvalSpec;
  report: { title: string };
}

export interface LoadPipelineOptions {
  /** `path=value` overrides (value parsed as YAML), e.g. "train.stage1.steps=20". */
  overrides?: readonly string[];
  /** Run folder; wins over the config's `output` (resolved against the working directory). */
  output?: string;
}

const TOP_KEYS = ['name', 'output', 'seed', 'sources', 'synth', 'mine', 'model', 'train', 'eval', 'report'] as const;
const SOURCE_KEYS = [
  'type', 'input', 'format', 'delimiter', 'quote', 'header', 'columns', 'map', 'dataset', 'instruction', 'task', 'sides',
  'onError', 'dedup', 'sample', 'decontaminate', 'retrieval',
] as const;
const DECON_KEYS = ['path', 'format', 'delimiter', 'quote', 'header', 'columns', 'fields'] as const;
const RETRIEVAL_KEYS = ['minScore', 'dataset', 'instruction', 'task', 'sides'] as const;
const SYNTH_KEYS = ['baseUrl', 'model', 'apiKeyEnv', 'concurrency', 'requestsPerMinute', 'tokensPerMinute', 'pricing', 'jobs'] as const;
const JOB_KEYS = ['generator', 'source', 'limit', 'n', 'maxTries'] as const;
const MINE_KEYS = ['retriever', 'range', 'negatives', 'relativeMargin', 'seed'] as const;
const MODEL_KEYS = ['path', 'init', 'attention'] as const;
const INIT_KEYS = ['architecture', 'hiddenSize', 'layers', 'heads', 'kvHeads', 'intermediateSize', 'maxPositions', 'config', 'tokenizer', 'seed'] as const;
const TOKENIZER_KEYS = ['vocabSize', 'minFrequency', 'lowercase'] as const;
const TRAIN_KEYS = ['preset', 'stage1', 'stage2'] as const;
const EVAL_KEYS = ['dataDir', 'tasks', 'baselines', 'batchTokens', 'dtype', 'device'] as const;
const EVAL_TASK_KEYS = ['task', 'splits'] as const;
const GENERATORS = ['paraphrase', 'augment', 'hard-negative'] as const;
const FORMATS = ['jsonl', 'json', 'csv', 'tsv', 'parquet'] as const;

const TRANSFORM_TYPES = Object.keys(TRANSFORMS) as TransformType[];

/** Which canonical family a transformation produces ('mixed' for already canonical records). */
export function familyOf(type: TransformType): RecordFamily | 'mixed' {
  const f = TRANSFORMS[type].family;
  return f === 'any' ? 'mixed' : f;
}

/** Reads and validates a pipeline config (YAML or JSON). Throws PipelineConfigError listing every problem. */
export function loadPipelineConfig(path: string, opts: LoadPipelineOptions = {}): PipelineConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PipelineConfigError([{ where: file, path: '(root)', message: `cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` }]);
  }
  const ext = extname(file).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(ext)) throw new PipelineConfigError([{ where: file, path: '(root)', message: `unknown config format "${ext}" (use .yaml, .yml or .json)` }]);
  return parsePipelineConfig(text, { ...opts, file });
}

export interface ParsePipelineOptions extends LoadPipelineOptions {
  /** File name for messages and the base of relative paths. */
  file: string;
}

export function parsePipelineConfig(text: string, opts: ParsePipelineOptions): PipelineConfig {
  const file = resolve(opts.file);
  const doc = LocatedDocument.parse(text, file);
  const overridden = new Map<string, string>();
  let raw = doc.value;
  if (opts.overrides?.length) {
    try {
      raw = applyOverrides(structuredClone(raw ?? {}), opts.overrides, overridden);
    } catch (e) {
      const issues = (e as { issues?: { where: string; path: string; message: string }[] }).issues;
      throw new PipelineConfigError(issues ?? [{ where: '--set', path: '(root)', message: (e as Error).message }]);
    }
  }
  const c = new Checker((path, atKey) => overrideSource(path, overridden, doc.value) ?? doc.locate(path, atKey));
  const config = readConfig(c, raw, file, opts.output);
  if (c.issues.length > 0 || !config) throw new PipelineConfigError(c.issues);
  // The stage sections go to the trainer: check them with its own rules, reported at their place here.
  validateStageFields(config, c.locate);
  return config;
}

function readConfig(c: Checker, raw: unknown, file: string, outputFlag: string | undefined): PipelineConfig | undefined {
  const base = dirname(file);
  const top = c.object(raw, []);
  if (!top) return undefined;
  c.keys(top, [], TOP_KEYS);
  const defaultName = basename(file).replace(/\.(ya?ml|json)$/i, '') === 'pipeline' ? basename(base) : basename(file).replace(/\.(ya?ml|json)$/i, '');
  const name = top.name === undefined ? defaultName : c.string(top.name, ['name']);
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) c.fail(['name'], `"${name}" is not a safe folder name (letters, digits, ".", "_", "-")`);
  let output: string | undefined;
  if (outputFlag !== undefined) output = resolve(outputFlag);
  else if (top.output !== undefined) {
    const o = c.string(top.output, ['output']);
    if (o !== undefined) output = resolve(base, o);
  } else output = resolve('runs', name ?? 'pipeline');
  const seed = top.seed === undefined ? 42 : c.number(top.seed, ['seed'], { integer: true, min: 0, max: 0xffffffff });

  const sources = readSources(c, top.sources, base);
  const synth = top.synth === undefined || top.synth === null ? null : readSynth(c, top.synth);
  const mine = readMine(c, top.mine, base, seed ?? 42);
  const model = readModel(c, top.model, base);
  const train = readTrain(c, top.train);
  const evalSpec = readEval(c, top.eval, base);
  let title = `qzhou pipeline: ${name ?? 'run'}`;
  if (top.report !== undefined) {
    const r = c.object(top.report, ['report']);
    if (r) {
      c.keys(r, ['report'], ['title']);
      if (r.title !== undefined) title = c.string(r.title, ['report', 'title']) ?? title;
    }
  }
  if (sources && synth) {
    const names = new Set(sources.flatMap((s) => (s.retrieval ? [s.name, s.retrieval.dataset] : [s.name])));
    synth.jobs.forEach((j, i) => {
      if (!names.has(j.source)) c.fail(['synth', 'jobs', i, 'source'], `"${j.source}" is not a source (known: ${[...names].join(', ')})`);
    });
  }
  if (sources) {
    // Source names and derived retrieval sets name the transform step's output files.
    const files = new Map<string, string>();
    for (const s of sources) {
      for (const [f, what] of s.retrieval ? [[s.name, 'name'], [s.retrieval.dataset, 'retrieval.dataset']] : [[s.name, 'name']]) {
        const prev = files.get(f!);
        if (prev !== undefined) c.fail(['sources', s.name, ...(what === 'name' ? [] : ['retrieval', 'dataset'])], `"${f}" is also the name of ${prev}; record files are named after sources and derived sets`);
        files.set(f!, what === 'name' ? `source "${s.name}"` : `the retrieval set of source "${s.name}"`);
      }
    }
    const datasets = new Map<string, string>();
    for (const s of sources) {
      for (const d of s.retrieval ? [s.dataset, s.retrieval.dataset] : [s.dataset]) {
        const prev = datasets.get(d);
        if (prev !== undefined && prev !== s.name) c.fail(['sources', s.name, 'dataset'], `dataset name "${d}" is also used by source "${prev}"; each source needs its own`);
        datasets.set(d, s.name);
      }
    }
  }
  if (c.issues.length > 0) return undefined;
  return {
    file,
    name: name!,
    output: output!,
    seed: seed!,
    sources: sources!,
    synth: synth ?? null,
    mine: mine!,
    model: model!,
    train: train!,
    eval: evalSpec!,
    report: { title },
  };
}

function readRead(c: Checker, s: Record<string, unknown>, path: PathSeg[]): FileRead {
  const read: FileRead = {};
  if (s.format !== undefined) read.format = c.oneOf(s.format, [...path, 'format'], FORMATS);
  if (s.delimiter !== undefined) {
    const d = c.string(s.delimiter, [...path, 'delimiter']);
    if (d !== undefined && d.length !== 1) c.fail([...path, 'delimiter'], `expected one character, got ${describe(d)}`);
    read.delimiter = d;
  }
  if (s.quote !== undefined) read.quote = c.boolean(s.quote, [...path, 'quote']);
  if (s.columns !== undefined) {
    if (s.header !== undefined) c.fail([...path, 'header'], 'give either "columns" (names for a header-less file) or "header", not both');
    read.header = c.stringList(s.columns, [...path, 'columns']);
  } else if (s.header !== undefined) read.header = c.boolean(s.header, [...path, 'header']);
  return read;
}

function readInstruction(c: Checker, s: Record<string, unknown>, path: PathSeg[]): { instruction?: string; task?: string; sides?: InstructionSides } {
  const out: { instruction?: string; task?: string; sides?: InstructionSides } = {};
  if (s.instruction !== undefined && s.task !== undefined) c.fail([...path, 'task'], 'give either "instruction" or "task" (whose instruction-table entry is used), not both');
  if (s.instruction !== undefined) out.instruction = c.string(s.instruction, [...path, 'instruction']);
  if (s.task !== undefined) {
    out.task = c.string(s.task, [...path, 'task']);
    // Checked here (as the trainer would at stage 1), so a typo is not found after minutes of data work.
    if (out.task !== undefined && !taskInstruction(out.task)) {
      c.fail([...path, 'task'], `"${out.task}" is not in the instruction tables (src/model/instructions.ts); give "instruction" instead`);
    }
  }
  if (s.sides !== undefined) out.sides = c.oneOf(s.sides, [...path, 'sides'], ['query', 'both'] as const);
  return out;
}

function readSources(c: Checker, raw: unknown, base: string): SourceSpec[] | undefined {
  if (raw === undefined) return c.fail(['sources'], 'required (the raw data to train on, by name)');
  const m = c.object(raw, ['sources']);
  if (!m) return undefined;
  if (Object.keys(m).length === 0) return c.fail(['sources'], 'must name at least one source');
  const out: SourceSpec[] = [];
  for (const [name, v] of Object.entries(m)) {
    const at: PathSeg[] = ['sources', name];
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) c.fail(at, `"${name}" is not a safe file name (letters, digits, ".", "_", "-")`, true);
    const s = c.object(v, at);
    if (!s) continue;
    c.keys(s, at, SOURCE_KEYS);
    const type = s.type === undefined ? c.fail([...at, 'type'], `required (one of ${TRANSFORM_TYPES.join(', ')})`) : c.oneOf(s.type, [...at, 'type'], TRANSFORM_TYPES);
    const inputs = s.input === undefined ? c.fail([...at, 'input'], 'required (a file, or a list of files)') : c.stringList(s.input, [...at, 'input']);
    const abs = inputs?.map((p) => resolve(base, p));
    abs?.forEach((p, i) => c.exists(p, Array.isArray(s.input) ? [...at, 'input', i] : [...at, 'input'], 'file'));
    const read = readRead(c, s, at);
    let map: Record<string, string> | undefined;
    if (s.map !== undefined) {
      const mm = c.object(s.map, [...at, 'map']);
      if (mm) {
        map = {};
        for (const [role, col] of Object.entries(mm)) {
          const colName = c.string(col, [...at, 'map', role]);
          if (colName !== undefined) map[role] = colName;
        }
      }
    }
    const dataset = s.dataset === undefined ? name : c.string(s.dataset, [...at, 'dataset']);
    const instr = readInstruction(c, s, at);
    const onError = s.onError === undefined ? 'fail' : c.oneOf(s.onError, [...at, 'onError'], ['fail', 'skip'] as const);
    const dedup = s.dedup === undefined ? 'none' : c.oneOf(s.dedup, [...at, 'dedup'], ['none', 'exact', 'normalized'] as const);
    const sample = s.sample === undefined ? undefined : c.number(s.sample, [...at, 'sample'], { integer: true, min: 1 });
    const decontaminate: DecontaminationSpec[] = [];
    if (s.decontaminate !== undefined) {
      const list = Array.isArray(s.decontaminate) ? s.decontaminate : [s.decontaminate];
      list.forEach((d, i) => {
        const dp: PathSeg[] = Array.isArray(s.decontaminate) ? [...at, 'decontaminate', i] : [...at, 'decontaminate'];
        if (typeof d === 'string') {
          const p = resolve(base, d);
          if (c.exists(p, dp, 'file')) decontaminate.push({ path: p, read: {} });
          return;
        }
        const o = c.object(d, dp);
        if (!o) return;
        c.keys(o, dp, DECON_KEYS);
        const p = o.path === undefined ? c.fail([...dp, 'path'], 'required (an evaluation file)') : c.string(o.path, [...dp, 'path']);
        const fields = o.fields === undefined ? undefined : c.stringList(o.fields, [...dp, 'fields']);
        const r = readRead(c, o, dp);
        if (p !== undefined && c.exists(resolve(base, p), [...dp, 'path'], 'file')) decontaminate.push({ path: resolve(base, p), read: r, ...(fields ? { fields } : {}) });
      });
    }
    let retrieval: SourceSpec['retrieval'];
    if (s.retrieval !== undefined) {
      const rp: PathSeg[] = [...at, 'retrieval'];
      const r = c.object(s.retrieval, rp);
      if (r) {
        c.keys(r, rp, RETRIEVAL_KEYS);
        if (type !== undefined && familyOf(type) !== 'pair') c.fail(rp, `derives retrieval records from scored pairs; source type "${type}" does not make pairs`);
        const minScore = r.minScore === undefined ? c.fail([...rp, 'minScore'], 'required (pairs scoring at least this become retrieval records)') : c.number(r.minScore, [...rp, 'minScore']);
        const ds = r.dataset === undefined ? `${dataset ?? name}-retrieval` : c.string(r.dataset, [...rp, 'dataset']);
        const ri = readInstruction(c, r, rp);
        if (minScore !== undefined && ds !== undefined) retrieval = { minScore, dataset: ds, ...ri };
      }
    }
    if (type === undefined || abs === undefined || dataset === undefined || onError === undefined || dedup === undefined) continue;
    out.push({
      name, type, inputs: abs, read, ...(map ? { map } : {}), dataset, ...instr, onError, dedup,
      ...(sample !== undefined ? { sample } : {}), decontaminate, ...(retrieval ? { retrieval } : {}),
    });
  }
  return out;
}

function readSynth(c: Checker, raw: unknown): SynthSpec | undefined {
  const at: PathSeg[] = ['synth'];
  const s = c.object(raw, at);
  if (!s) return undefined;
  c.keys(s, at, SYNTH_KEYS);
  const out: SynthSpec = { jobs: [] };
  if (s.baseUrl !== undefined) {
    const u = c.string(s.baseUrl, [...at, 'baseUrl']);
    if (u !== undefined && !/^https?:\/\//.test(u)) c.fail([...at, 'baseUrl'], `expected an http(s) URL, got ${describe(u)}`);
    out.baseUrl = u;
  }
  if (s.model !== undefined) out.model = c.string(s.model, [...at, 'model']);
  if (s.apiKeyEnv !== undefined) out.apiKeyEnv = c.string(s.apiKeyEnv, [...at, 'apiKeyEnv']);
  if (s.concurrency !== undefined) out.concurrency = c.number(s.concurrency, [...at, 'concurrency'], { integer: true, min: 1 });
  if (s.requestsPerMinute !== undefined) out.requestsPerMinute = c.number(s.requestsPerMinute, [...at, 'requestsPerMinute'], { min: 0, minExclusive: true });
  if (s.tokensPerMinute !== undefined) out.tokensPerMinute = c.number(s.tokensPerMinute, [...at, 'tokensPerMinute'], { min: 0, minExclusive: true });
  if (s.pricing !== undefined) {
    const p = c.object(s.pricing, [...at, 'pricing']);
    if (p) {
      c.keys(p, [...at, 'pricing'], ['inputPerMillion', 'outputPerMillion']);
      const i = c.number(p.inputPerMillion, [...at, 'pricing', 'inputPerMillion'], { min: 0 });
      const o = c.number(p.outputPerMillion, [...at, 'pricing', 'outputPerMillion'], { min: 0 });
      if (i !== undefined && o !== undefined) out.pricing = { inputPerMillion: i, outputPerMillion: o };
    }
  }
  if (s.jobs === undefined) c.fail([...at, 'jobs'], 'required (a list of { generator, source, limit })');
  else if (!Array.isArray(s.jobs)) c.fail([...at, 'jobs'], `expected a list, got ${describe(s.jobs)}`);
  else {
    s.jobs.forEach((j, i) => {
      const jp: PathSeg[] = [...at, 'jobs', i];
      const o = c.object(j, jp);
      if (!o) return;
      c.keys(o, jp, JOB_KEYS);
      const generator = o.generator === undefined ? c.fail([...jp, 'generator'], `required (${GENERATORS.join(', ')})`) : c.oneOf(o.generator, [...jp, 'generator'], GENERATORS);
      const source = o.source === undefined ? c.fail([...jp, 'source'], 'required (a source name)') : c.string(o.source, [...jp, 'source']);
      const job: SynthJobSpec = { generator: generator!, source: source! };
      if (o.limit !== undefined) job.limit = c.number(o.limit, [...jp, 'limit'], { integer: true, min: 1 });
      if (o.n !== undefined) job.n = c.number(o.n, [...jp, 'n'], { integer: true, min: 1 });
      if (o.maxTries !== undefined) job.maxTries = c.number(o.maxTries, [...jp, 'maxTries'], { integer: true, min: 1 });
      if (generator !== undefined && source !== undefined) out.jobs.push(job);
    });
    const seen = new Set<string>();
    out.jobs.forEach((j, i) => {
      const k = `${j.generator}:${j.source}`;
      if (seen.has(k)) c.fail(['synth', 'jobs', i], `a second ${j.generator} job for "${j.source}"`);
      seen.add(k);
    });
  }
  return out;
}

function readMine(c: Checker, raw: unknown, base: string, seed: number): MineSpec | undefined {
  const out: MineSpec = { retriever: 'hashing', range: [10, 30], negatives: 4, relativeMargin: 0.05, seed };
  if (raw === undefined || raw === null) return out;
  const at: PathSeg[] = ['mine'];
  const m = c.object(raw, at);
  if (!m) return undefined;
  c.keys(m, at, MINE_KEYS);
  if (m.retriever !== undefined) {
    const r = c.string(m.retriever, [...at, 'retriever']);
    if (r !== undefined) {
      if (/^hashing(:\d+)?$/.test(r)) out.retriever = r;
      else {
        out.retriever = resolve(base, r);
        c.exists(out.retriever, [...at, 'retriever'], 'dir');
      }
    }
  }
  if (m.range !== undefined) {
    const r = m.range as unknown[];
    const ok = Array.isArray(r) && r.length === 2 && r.every((x) => Number.isInteger(x) && (x as number) >= 0) && (r[0] as number) < (r[1] as number);
    if (!ok) c.fail([...at, 'range'], `expected [A, B] with 0 ≤ A < B (skip the best A candidates, sample up to rank B), got ${JSON.stringify(m.range)}`);
    else out.range = [r[0] as number, r[1] as number];
  }
  if (m.negatives !== undefined) out.negatives = c.number(m.negatives, [...at, 'negatives'], { integer: true, min: 1 }) ?? out.negatives;
  if (m.relativeMargin !== undefined) {
    out.relativeMargin = m.relativeMargin === null ? null : (c.number(m.relativeMargin, [...at, 'relativeMargin'], { min: 0, max: 0.999 }) ?? out.relativeMargin);
  }
  if (m.seed !== undefined) out.seed = c.number(m.seed, [...at, 'seed'], { integer: true, min: 0 }) ?? seed;
  return out;
}

function readModel(c: Checker, raw: unknown, base: string): ModelSpec | undefined {
  const at: PathSeg[] = ['model'];
  if (raw === undefined) return c.fail(at, 'required: "path" (a checkpoint folder) or "init" (train a tokenizer and initialise a model at random)');
  const m = c.object(raw, at);
  if (!m) return undefined;
  c.keys(m, at, MODEL_KEYS);
  if ((m.path === undefined) === (m.init === undefined)) return c.fail(at, 'give exactly one of "path" (a checkpoint folder) or "init" (random initialisation)');
  const out: ModelSpec = {};
  if (m.attention !== undefined) out.attention = c.oneOf(m.attention, [...at, 'attention'], ['bidirectional', 'causal'] as const);
  if (m.path !== undefined) {
    const p = c.string(m.path, [...at, 'path']);
    if (p !== undefined) {
      out.path = resolve(base, p);
      c.exists(out.path, [...at, 'path'], 'dir');
    }
    return out;
  }
  const ip: PathSeg[] = [...at, 'init'];
  const i = c.object(m.init, ip);
  if (!i) return undefined;
  c.keys(i, ip, INIT_KEYS);
  const architecture = i.architecture === undefined ? 'bert' : c.oneOf(i.architecture, [...ip, 'architecture'], ['bert', 'qwen2'] as const);
  const int = (key: string, fallback: number, min = 1) => (i[key] === undefined ? fallback : c.number(i[key], [...ip, key], { integer: true, min }));
  const hiddenSize = int('hiddenSize', 128);
  const layers = int('layers', 2);
  const heads = int('heads', 4);
  const kvHeads = i.kvHeads === undefined ? undefined : int('kvHeads', 1);
  const intermediateSize = int('intermediateSize', (hiddenSize ?? 128) * 4);
  const maxPositions = int('maxPositions', 512);
  const seed = int('seed', 0, 0);
  if (hiddenSize !== undefined && heads !== undefined && hiddenSize % heads !== 0) c.fail([...ip, 'heads'], `hiddenSize (${hiddenSize}) must be a multiple of heads (${heads})`);
  if (kvHeads !== undefined) {
    if (architecture === 'bert') c.fail([...ip, 'kvHeads'], 'applies to qwen2 only');
    else if (heads !== undefined && heads % kvHeads !== 0) c.fail([...ip, 'kvHeads'], `heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  }
  let config: Record<string, unknown> = {};
  if (i.config !== undefined) config = c.object(i.config, [...ip, 'config']) ?? {};
  const tokenizer = { vocabSize: 4000, minFrequency: 2 } as ModelInitSpec['tokenizer'];
  if (i.tokenizer !== undefined) {
    const tp: PathSeg[] = [...ip, 'tokenizer'];
    const t = c.object(i.tokenizer, tp);
    if (t) {
      c.keys(t, tp, TOKENIZER_KEYS);
      if (t.vocabSize !== undefined) tokenizer.vocabSize = c.number(t.vocabSize, [...tp, 'vocabSize'], { integer: true, min: 100 }) ?? tokenizer.vocabSize;
      if (t.minFrequency !== undefined) tokenizer.minFrequency = c.number(t.minFrequency, [...tp, 'minFrequency'], { integer: true, min: 1 }) ?? tokenizer.minFrequency;
      if (t.lowercase !== undefined) tokenizer.lowercase = c.boolean(t.lowercase, [...tp, 'lowercase']);
    }
  }
  if ([architecture, hiddenSize, layers, heads, intermediateSize, maxPositions, seed].some((x) => x === undefined)) return undefined;
  out.init = {
    architecture: architecture!, hiddenSize: hiddenSize!, layers: layers!, heads: heads!, ...(kvHeads !== undefined ? { kvHeads } : {}),
    intermediateSize: intermediateSize!, maxPositions: maxPositions!, config, tokenizer, seed: seed!,
  };
  return out;
}

function readTrain(c: Checker, raw: unknown): TrainSpec | undefined {
  const at: PathSeg[] = ['train'];
  const out: TrainSpec = { preset: 'small', stage1: {}, stage2: {} };
  if (raw === undefined || raw === null) return out;
  const t = c.object(raw, at);
  if (!t) return undefined;
  c.keys(t, at, TRAIN_KEYS);
  if (t.preset !== undefined) out.preset = c.oneOf(t.preset, [...at, 'preset'], ['small', 'paper'] as const) ?? out.preset;
  for (const stage of ['stage1', 'stage2'] as const) {
    if (t[stage] === undefined || t[stage] === null) continue;
    const s = c.object(t[stage], [...at, stage]);
    if (!s) continue;
    for (const k of ['name', 'data']) if (k in s) c.fail([...at, stage, k], `set by the pipeline (${k === 'data' ? 'the transformed, mined sources' : 'the step name'})`, true);
    out[stage] = s;
  }
  return out;
}

function readEval(c: Checker, raw: unknown, base: string): EvalSpec | undefined {
  const at: PathSeg[] = ['eval'];
  if (raw === undefined) return c.fail(at, 'required (dataDir and tasks)');
  const e = c.object(raw, at);
  if (!e) return undefined;
  c.keys(e, at, EVAL_KEYS);
  const dd = e.dataDir === undefined ? c.fail([...at, 'dataDir'], 'required (the folder holding the task datasets)') : c.string(e.dataDir, [...at, 'dataDir']);
  let dataDir = dd === undefined ? undefined : resolve(base, dd);
  if (dataDir && !c.exists(dataDir, [...at, 'dataDir'], 'dir')) dataDir = undefined;
  const tasks: EvalTaskSpec[] = [];
  if (e.tasks === undefined) c.fail([...at, 'tasks'], 'required (task names, or { task, splits })');
  else if (!Array.isArray(e.tasks) || e.tasks.length === 0) c.fail([...at, 'tasks'], `expected a non-empty list, got ${describe(e.tasks)}`);
  else {
    e.tasks.forEach((x, i) => {
      const tp: PathSeg[] = [...at, 'tasks', i];
      if (typeof x === 'string') {
        if (knownTask(c, x, tp, base, dataDir)) tasks.push({ task: taskPath(x, base) });
        return;
      }
      const o = c.object(x, tp);
      if (!o) return;
      c.keys(o, tp, EVAL_TASK_KEYS);
      const task = o.task === undefined ? c.fail([...tp, 'task'], 'required') : c.string(o.task, [...tp, 'task']);
      const splits = o.splits === undefined ? undefined : c.stringList(o.splits, [...tp, 'splits']);
      if (task !== undefined && knownTask(c, task, [...tp, 'task'], base, dataDir)) tasks.push({ task: taskPath(task, base), ...(splits ? { splits } : {}) });
    });
  }
  let baselines: EvalSpec['baselines'] = ['tfidf', 'init'];
  if (e.baselines !== undefined) {
    const list = Array.isArray(e.baselines) ? e.baselines : c.fail([...at, 'baselines'], `expected a list (tfidf, init), got ${describe(e.baselines)}`);
    if (list) baselines = [...new Set(list.map((b, i) => c.oneOf(b, [...at, 'baselines', i], ['tfidf', 'init'] as const)).filter((b): b is 'tfidf' | 'init' => b !== undefined))];
  }
  const batchTokens = e.batchTokens === undefined ? undefined : c.number(e.batchTokens, [...at, 'batchTokens'], { integer: true, min: 1 });
  const dtype = e.dtype === undefined ? undefined : c.oneOf(e.dtype, [...at, 'dtype'], ['f32', 'f16', 'int8', 'int4'] as const);
  const device = e.device === undefined ? undefined : c.oneOf(e.device, [...at, 'device'], ['cpu', 'webgpu', 'cuda'] as const);
  if (!dataDir) return undefined;
  return { dataDir, tasks, baselines, ...(batchTokens !== undefined ? { batchTokens } : {}), ...(dtype ? { dtype } : {}), ...(device ? { device } : {}) };
}

const isTaskFolder = (t: string) => t.includes('/') || t.includes('\\') || t.startsWith('.');
const taskPath = (t: string, base: string) => (isTaskFolder(t) ? resolve(base, t) : t);

/**
 * A registry task name (src/eval) whose data is in `dataDir`, or a task folder: checked when the config
 * is read, so a missing dataset is reported before hours of training rather than after.
 */
function knownTask(c: Checker, task: string, path: PathSeg[], base: string, dataDir: string | undefined): boolean {
  if (isTaskFolder(task)) return c.exists(resolve(base, task), path, 'dir');
  const meta = findTask(task);
  if (!meta) {
    c.fail(path, `unknown task "${task}" (\`qzhou eval --list-tasks\` lists them; a task folder is given as a path, e.g. ./my-task)`);
    return false;
  }
  if (dataDir === undefined) return true;
  try {
    locateTask(dataDir, meta);
    return true;
  } catch (e) {
    c.fail(path, (e as Error).message);
    return false;
  }
}

/** The read options for src/data from a FileRead. */
export function readOptionsOf(r: FileRead): ReadOptions {
  const o: ReadOptions = {};
  if (r.format) o.format = r.format;
  if (r.delimiter) o.delimiter = r.delimiter;
  if (r.quote !== undefined) o.quote = r.quote;
  if (r.header !== undefined) o.header = r.header;
  return o;
}
