// Training configuration: a model, an output folder and a list of stages, read from JSON or YAML and
// validated with errors that name the file, line, field path (e.g. `stages[1].lr`) and problem.
// Unset stage fields come from a preset: the paper's Table 1 (recipe.md §5) for stage 1 / stage 2, or a
// small-model preset for CPU demos. Relative paths are resolved against the config file's folder.
import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument, parse as parseYamlValue, isMap, isScalar, type Document } from 'yaml';
import { taskInstruction } from '../model/instructions.js';
import type { Family } from './gradcache.js';
import { DEFAULT_NO_DECAY } from './optimizer.js';
import { SCHEDULE_KINDS, type ScheduleKind } from './schedule.js';
import { closestKey } from '../util/suggest.js';

export type { Family };
const FAMILY_NAMES: readonly Family[] = ['retrieval', 'pair', 'cls'];

/** Which texts get the instruction prefix: queries only, or every text of the dataset. */
export type InstructionSides = 'query' | 'both';

export interface DataSource {
  /** Absolute path of a canonical JSONL file or a directory of them. */
  path: string;
  /** Dataset name for records of this source (default: each record's `dataset` field, else the file name). */
  dataset?: string;
  /** Instruction for records that carry none of their own. */
  instruction?: string;
  /** Where the instruction goes; unset = per family (retrieval: queries; pair and cls: both sides). */
  sides?: InstructionSides;
  /** The instruction-table task the instruction came from, when given by task name. */
  task?: string;
}

export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  /** Module name suffixes to adapt, e.g. q_proj, k_proj, v_proj, o_proj. */
  targets: string[];
}

export interface EvalSchedule {
  /** Evaluate every N steps (and at the end of the stage). */
  every: number;
  /** Task names for the evaluation harness (registry names or task-folder paths). */
  tasks: string[];
  /** Folder with one dataset folder per registry task (src/eval's --data-dir). */
  dataDir?: string;
  /** Splits to evaluate instead of the tasks' own (e.g. [validation]: never tune on test). */
  splits?: string[];
}

export interface StageConfig {
  name: string;
  /** The preset the unset fields came from. */
  preset: StagePresetName;
  steps: number;
  lr: number;
  warmup: number;
  schedule: ScheduleKind;
  /** Cosine only: floor as a fraction of lr. */
  minLrRatio?: number;
  /** Texts per batch by family: anchors/queries for InfoNCE families, pairs for CoSENT. */
  batchSize: Record<Family, number>;
  /** Hard negatives per retrieval query; other-class negatives per classification anchor. */
  negatives: { retrieval: number; cls: number };
  /** InfoNCE temperature (retrieval and classification). */
  temperature: number;
  /** CoSENT scale = 1/τ. */
  cosentScale: number;
  /** q–q terms in the retrieval denominator. */
  queryQueryNegatives: boolean;
  /** Other anchors' positives in the classification denominator: omitted (paper) or class-masked. */
  clsOtherPositives: 'omit' | 'masked';
  /** Max tokens, instruction included: query side (queries, cls anchors) and passage side. */
  maxLength: { query: number; passage: number };
  data: DataSource[];
  /** Families this stage trains on; records of other families are skipped. */
  families: Family[];
  /** Fraction of batches that are retrieval batches (null: sampled by dataset size only). */
  retrievalShare: number | null;
  /** Dataset sampling exponent: p_i ∝ n_i^alpha. */
  alpha: number;
  /** Global-norm clipping threshold (null: off). */
  gradClip: number | null;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** Parameter-name globs exempt from weight decay. */
  noDecay: string[];
  /** Texts per GradCache forward/backward chunk. */
  gradCacheChunk: number;
  /** LoRA adapters (merged into the weights on save) or null for full fine-tuning. */
  lora: LoraConfig | null;
  /** Checkpoint every N steps (0: only at the end of the stage). */
  checkpointEvery: number;
  eval: EvalSchedule | null;
  seed: number;
}

export interface ModelSpec {
  /** A Hugging Face checkpoint directory to start from. */
  path?: string;
  /**
   * Random initialisation from a model config: a config.json path, or its fields inline (vocab_size
   * defaults to the tokenizer's size), with the tokenizer folder to use.
   */
  init?: { config: string | Record<string, unknown>; tokenizer: string; seed: number };
  /** Override of the checkpoint's attention rule. */
  attention?: 'bidirectional' | 'causal';
  pooling?: 'mean' | 'cls' | 'last';
  /**
   * How LoRA stages over a checkpoint hold the frozen base: f32 (default) or int8/int4 weight-only
   * quantised (QLoRA). Full fine-tuning always trains f32 master weights.
   */
  dtype?: 'f32' | 'int8' | 'int4';
}

export interface TrainConfig {
  /** Absolute path of the file the config was read from. */
  file?: string;
  model: ModelSpec;
  /** Output folder (checkpoints, metrics). */
  output: string;
  seed: number;
  stages: StageConfig[];
  /** Keep only the newest N checkpoints of each stage (unset: keep all). */
  keepCheckpoints?: number;
}

// ----------------------------------------------------------------------------------------------
// Presets.

export type PresetName = 'paper' | 'small';
export type StagePresetName = 'paper-stage1' | 'paper-stage2' | 'small-stage1' | 'small-stage2';
export const STAGE_PRESET_NAMES: readonly StagePresetName[] = ['paper-stage1', 'paper-stage2', 'small-stage1', 'small-stage2'];

type PresetStage = Omit<StageConfig, 'name' | 'preset' | 'data' | 'seed'>;

/**
 * Paper Table 1 (recipe.md §5): steps, lr, warmup, InfoNCE/CoSENT batch sizes, τ and max lengths are
 * published; weight decay 0.01, 4 hard negatives and the 0.72 retrieval share are second-hand; the
 * schedule, betas, eps, clipping, α, the CoSENT scale (1/τ), classification negatives and the
 * GradCache chunk are not published (our defaults).
 */
const PAPER_STAGE1: PresetStage = {
  steps: 32000,
  lr: 3e-5,
  warmup: 300,
  schedule: 'linear',
  batchSize: { retrieval: 256, pair: 768, cls: 256 },
  negatives: { retrieval: 4, cls: 7 },
  temperature: 0.02,
  cosentScale: 50,
  queryQueryNegatives: true,
  clsOtherPositives: 'omit',
  maxLength: { query: 256, passage: 1536 },
  families: ['retrieval'],
  retrievalShare: null,
  alpha: 0.5,
  gradClip: 1,
  weightDecay: 0.01,
  betas: [0.9, 0.999],
  eps: 1e-8,
  noDecay: [...DEFAULT_NO_DECAY],
  gradCacheChunk: 8,
  lora: null,
  checkpointEvery: 1000,
  eval: null,
};

const PAPER_STAGE2: PresetStage = { ...PAPER_STAGE1, steps: 8000, lr: 2e-5, families: ['retrieval', 'pair', 'cls'], retrievalShare: 0.72 };

/** A small randomly initialised encoder on CPU (the Banking77 / STS-B demos): starting points. */
const SMALL_STAGE1: PresetStage = {
  ...PAPER_STAGE1,
  steps: 1000,
  lr: 5e-4,
  warmup: 50,
  batchSize: { retrieval: 64, pair: 128, cls: 64 },
  negatives: { retrieval: 1, cls: 3 },
  temperature: 0.05,
  cosentScale: 20,
  maxLength: { query: 64, passage: 128 },
  gradCacheChunk: 64,
  checkpointEvery: 200,
};

const SMALL_STAGE2: PresetStage = { ...SMALL_STAGE1, lr: 3e-4, families: ['retrieval', 'pair', 'cls'], retrievalShare: 0.5 };

const PRESETS: Record<StagePresetName, PresetStage> = {
  'paper-stage1': PAPER_STAGE1,
  'paper-stage2': PAPER_STAGE2,
  'small-stage1': SMALL_STAGE1,
  'small-stage2': SMALL_STAGE2,
};

/** A deep copy of a stage preset (without name, data and seed). */
export function stagePreset(name: StagePresetName): PresetStage {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown stage preset ${JSON.stringify(name)} (one of ${STAGE_PRESET_NAMES.join(', ')})`);
  return structuredClone(p);
}

// ----------------------------------------------------------------------------------------------
// Errors.

export interface ConfigIssue {
  /** Field path, e.g. "stages[1].lr" ("(root)" for the document itself). */
  path: string;
  message: string;
  /** Where: "file:line:column", "--set ...", or the file name alone. */
  where: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.where}: ${i.path}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

// ----------------------------------------------------------------------------------------------
// Loading.

export interface LoadConfigOptions {
  /** `path=value` overrides applied on top of the file, e.g. "stages[0].steps=100" (value parsed as YAML). */
  overrides?: readonly string[];
  /** Check that data, model and tokenizer paths exist (default true). */
  checkPaths?: boolean;
}

/** Reads and validates a JSON (.json) or YAML (.yaml/.yml) training config. */
export function loadTrainConfig(path: string, opts: LoadConfigOptions = {}): TrainConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ where: file, path: '(root)', message: `cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` }]);
  }
  const ext = extname(file).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
  if (!format) throw new ConfigError([{ where: file, path: '(root)', message: `unknown config format "${ext}" (use .json, .yaml or .yml)` }]);
  return parseTrainConfig(text, { ...opts, file, format });
}

export interface ParseConfigOptions extends LoadConfigOptions {
  /** Name used in messages and the base for relative paths. */
  file?: string;
  format: 'json' | 'yaml';
  /** Base directory for relative paths (default: the file's folder, else the working directory). */
  baseDir?: string;
}

/** Parses and validates config text. */
export function parseTrainConfig(text: string, opts: ParseConfigOptions): TrainConfig {
  const file = opts.file ?? `<${opts.format}>`;
  const lineCounter = new LineCounter();
  const pos = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  let raw: unknown;
  if (opts.format === 'json') {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      const m = /position (\d+)/.exec((e as Error).message);
      // Count lines ourselves: the LineCounter is only filled by the YAML parser below.
      const where = m ? `${file}:${lineCol(text, Number(m[1]))}` : file;
      throw new ConfigError([{ where, path: '(root)', message: `invalid JSON: ${(e as Error).message}` }]);
    }
  }
  // YAML is a superset of JSON, so the YAML parser also gives positions (and duplicate keys, which
  // JSON.parse silently accepts) for JSON files.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const errors = opts.format === 'json' ? doc.errors.filter((e) => e.code === 'DUPLICATE_KEY') : doc.errors;
  if (errors.length > 0) {
    throw new ConfigError(errors.map((e) => ({ where: pos(e.pos[0]), path: '(root)', message: `invalid ${opts.format === 'json' ? 'JSON' : 'YAML'}: ${e.message.split('\n')[0]}` })));
  }
  const positions = doc.errors.length === 0;
  if (opts.format === 'yaml') raw = doc.toJS();
  const locate = (path: PathSeg[], atKey: boolean): string => {
    const node = positions ? nodeAt(doc, path, atKey) : undefined;
    return node !== undefined ? pos(node) : file;
  };
  const baseDir = opts.baseDir ?? (opts.file ? dirname(resolve(opts.file)) : process.cwd());
  const config = resolveTrainConfig(raw, { ...opts, baseDir, locate, file: opts.file ? resolve(opts.file) : undefined, fileLabel: file });
  return config;
}

function lineCol(text: string, offset: number): string {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) [line, last] = [line + 1, i];
  return `${line}:${offset - last}`;
}

type PathSeg = string | number;

/** Start offset of the node (or its key) at `path`, if the document has it. */
function nodeAt(doc: Document, path: PathSeg[], atKey: boolean): number | undefined {
  if (path.length === 0) return doc.contents?.range?.[0];
  if (atKey) {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[path.length - 1]));
      const r = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
      if (r) return r[0];
    }
  }
  const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  if (node?.range) return node.range[0];
  // The field is missing: point at the closest existing parent.
  return nodeAt(doc, path.slice(0, -1), false);
}

export interface ResolveConfigOptions extends LoadConfigOptions {
  /** Base directory for relative paths (default: working directory). */
  baseDir?: string;
  /** Absolute path of the source file, recorded in the result. */
  file?: string;
  /** Label for messages when there is no position (default "config"). */
  fileLabel?: string;
  /** Maps a field path to "file:line:col" (given by parseTrainConfig). */
  locate?: (path: PathSeg[], atKey: boolean) => string;
}

/** Validates a plain object (already parsed) and fills defaults. Throws ConfigError listing every problem. */
export function resolveTrainConfig(raw: unknown, opts: ResolveConfigOptions = {}): TrainConfig {
  const overridden = new Map<string, string>();
  let value = raw;
  if (opts.overrides?.length) value = applyOverrides(structuredClone(raw), opts.overrides, overridden);
  const label = opts.fileLabel ?? opts.file ?? 'config';
  const c = new Checker((path, atKey) => {
    return overrideSource(path, overridden, raw) ?? (opts.locate ? opts.locate(path, atKey) : label);
  });
  const config = readConfig(c, value, opts.baseDir ?? process.cwd(), opts.checkPaths ?? true);
  if (c.issues.length > 0 || !config) throw new ConfigError(c.issues);
  if (opts.file) config.file = opts.file;
  return config;
}

/** Applies `path=value` overrides (value parsed as YAML) to a plain object, returning it. */
export function applyOverrides(raw: unknown, overrides: readonly string[], record?: Map<string, string>): unknown {
  let root = raw;
  for (const o of overrides) {
    const where = `--set ${o}`;
    const eq = o.indexOf('=');
    if (eq <= 0) throw new ConfigError([{ where, path: '(root)', message: 'expected path=value, e.g. stages[0].steps=100' }]);
    const path = parsePath(o.slice(0, eq), where);
    let v: unknown;
    try {
      v = parseYamlValue(o.slice(eq + 1));
    } catch (e) {
      throw new ConfigError([{ where, path: formatPath(path), message: `cannot parse the value: ${(e as Error).message.split('\n')[0]}` }]);
    }
    if (root === null || typeof root !== 'object') root = {};
    let node = root as Record<string | number, unknown>;
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i]!;
      let next = node[seg];
      if (next === null || typeof next !== 'object') {
        next = typeof path[i + 1] === 'number' ? [] : {};
        node[seg] = next;
      }
      node = next as Record<string | number, unknown>;
    }
    node[path[path.length - 1]!] = v;
    record?.set(formatPath(path), where);
  }
  return root;
}

function parsePath(s: string, where: string): PathSeg[] {
  // name ( "." name | "[" index "]" )*
  const m = /^[A-Za-z_][\w-]*((\.[A-Za-z_][\w-]*)|(\[\d+\]))*$/.exec(s);
  if (!m) throw new ConfigError([{ where, path: s, message: 'not a field path (e.g. stages[0].lr or model.path)' }]);
  return [...s.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)].map((x) => (x[1] !== undefined ? x[1] : Number(x[2])));
}

/**
 * The "--set …" label of the override that set `path` (or a field above it), or that created it: a key the
 * original value does not have (e.g. a misspelt section) is the override's too. Undefined: the file's.
 */
export function overrideSource(path: readonly PathSeg[], overridden: ReadonlyMap<string, string>, original: unknown): string | undefined {
  const key = formatPath(path);
  for (const [p, source] of overridden) {
    if (key === p || key.startsWith(`${p}.`) || key.startsWith(`${p}[`)) return source;
    if ((p.startsWith(`${key}.`) || p.startsWith(`${key}[`)) && !hasPath(original, path)) return source;
  }
  return undefined;
}

function hasPath(value: unknown, path: readonly PathSeg[]): boolean {
  let v = value;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return false;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return true;
}

export function formatPath(path: readonly PathSeg[]): string {
  if (path.length === 0) return '(root)';
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

// ----------------------------------------------------------------------------------------------
// Validation.

class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly locate: (path: PathSeg[], atKey: boolean) => string) {}

  fail(path: PathSeg[], message: string, atKey = false): undefined {
    this.issues.push({ where: this.locate(path, atKey), path: formatPath(path), message });
    return undefined;
  }

  object(v: unknown, path: PathSeg[]): Record<string, unknown> | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return this.fail(path, `expected a mapping of fields, got ${describe(v)}`);
    return v as Record<string, unknown>;
  }

  /** Reports unknown keys, with a suggestion when one is close to a known key. */
  keys(obj: Record<string, unknown>, path: PathSeg[], allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const hint = suggest(k, allowed);
      this.fail([...path, k], hint ? `unknown field (did you mean "${hint}"?)` : `unknown field; known fields: ${allowed.join(', ')}`, true);
    }
  }

  number(v: unknown, path: PathSeg[], rule: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; integer?: boolean }): number | undefined {
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(path, `expected ${rule.integer ? 'an integer' : 'a number'}, got ${describe(v)}`);
    if (rule.integer && !Number.isSafeInteger(v)) return this.fail(path, `expected an integer, got ${v}`);
    if (rule.min !== undefined && (rule.minExclusive ? v <= rule.min : v < rule.min)) return this.fail(path, `must be ${rule.minExclusive ? '>' : '≥'} ${rule.min}, got ${v}`);
    if (rule.max !== undefined && (rule.maxExclusive ? v >= rule.max : v > rule.max)) return this.fail(path, `must be ${rule.maxExclusive ? '<' : '≤'} ${rule.max}, got ${v}`);
    return v;
  }

  string(v: unknown, path: PathSeg[], nonEmpty = true): string | undefined {
    if (typeof v !== 'string') return this.fail(path, `expected a string, got ${describe(v)}`);
    if (nonEmpty && v.trim() === '') return this.fail(path, 'must not be empty');
    return v;
  }

  boolean(v: unknown, path: PathSeg[]): boolean | undefined {
    if (typeof v !== 'boolean') return this.fail(path, `expected true or false, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, path: PathSeg[], options: readonly T[]): T | undefined {
    if (typeof v !== 'string' || !options.includes(v as T)) return this.fail(path, `expected one of ${options.map((o) => `"${o}"`).join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  array(v: unknown, path: PathSeg[], nonEmpty: boolean): unknown[] | undefined {
    if (!Array.isArray(v)) return this.fail(path, `expected a list, got ${describe(v)}`);
    if (nonEmpty && v.length === 0) return this.fail(path, 'must not be empty');
    return v;
  }

  strings(v: unknown, path: PathSeg[], nonEmpty: boolean): string[] | undefined {
    const a = this.array(v, path, nonEmpty);
    if (!a) return undefined;
    const out: string[] = [];
    let ok = true;
    a.forEach((x, i) => {
      const s = this.string(x, [...path, i]);
      if (s === undefined) ok = false;
      else out.push(s);
    });
    return ok ? out : undefined;
  }

  /** Path must exist and be a file / directory / either. */
  exists(p: string, path: PathSeg[], kind: 'file' | 'dir' | 'any'): void {
    let st;
    try {
      st = statSync(p);
    } catch {
      this.fail(path, `${p} does not exist`);
      return;
    }
    if (kind === 'file' && !st.isFile()) this.fail(path, `${p} is not a file`);
    if (kind === 'dir' && !st.isDirectory()) this.fail(path, `${p} is not a directory`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Names users bring from other trainers. */
const ALIASES: Record<string, string> = {
  learning_rate: 'lr',
  learningrate: 'lr',
  warmup_steps: 'warmup',
  max_steps: 'steps',
  num_steps: 'steps',
  lr_scheduler_type: 'schedule',
  scheduler: 'schedule',
  batch_size: 'batchSize',
  max_grad_norm: 'gradClip',
  tau: 'temperature',
  temp: 'temperature',
  scale: 'cosentScale',
  adam_epsilon: 'eps',
  epsilon: 'eps',
  save_steps: 'checkpointEvery',
  eval_steps: 'eval',
  chunk_size: 'gradCacheChunk',
  mini_batch_size: 'gradCacheChunk',
  r: 'rank',
  lora_alpha: 'alpha',
  lora_dropout: 'dropout',
  target_modules: 'targets',
};

function suggest(key: string, allowed: readonly string[]): string | undefined {
  const alias = ALIASES[key] ?? ALIASES[key.toLowerCase()];
  if (alias && allowed.includes(alias)) return alias;
  return closestKey(key, allowed);
}

const TOP_KEYS = ['model', 'output', 'seed', 'preset', 'stages', 'keepCheckpoints'] as const;
const MODEL_KEYS = ['path', 'init', 'attention', 'pooling', 'dtype'] as const;
const INIT_KEYS = ['config', 'tokenizer', 'seed'] as const;
const STAGE_KEYS = [
  'name', 'preset', 'steps', 'lr', 'warmup', 'schedule', 'minLrRatio', 'batchSize', 'negatives', 'temperature', 'cosentScale',
  'queryQueryNegatives', 'clsOtherPositives', 'maxLength', 'data', 'families', 'retrievalShare', 'alpha', 'gradClip',
  'weightDecay', 'betas', 'eps', 'noDecay', 'gradCacheChunk', 'lora', 'checkpointEvery', 'eval', 'seed',
] as const;
const DATA_KEYS = ['path', 'dataset', 'instruction', 'sides', 'task'] as const;
const LORA_KEYS = ['rank', 'alpha', 'dropout', 'targets'] as const;
const EVAL_KEYS = ['every', 'tasks', 'dataDir', 'splits'] as const;

function readConfig(c: Checker, raw: unknown, baseDir: string, checkPaths: boolean): TrainConfig | undefined {
  const top = c.object(raw, []);
  if (!top) return undefined;
  c.keys(top, [], TOP_KEYS);
  const model = top.model === undefined ? c.fail(['model'], 'required (a checkpoint path, or init from a model config)') : readModel(c, top.model, baseDir, checkPaths);
  const output = top.output === undefined ? c.fail(['output'], 'required (the folder for checkpoints and metrics)') : c.string(top.output, ['output']);
  const seed = top.seed === undefined ? 42 : c.number(top.seed, ['seed'], { integer: true, min: 0, max: 0xffffffff });
  const preset = top.preset === undefined ? 'paper' : c.oneOf(top.preset, ['preset'], ['paper', 'small'] as const);
  const stagesRaw = top.stages === undefined ? c.fail(['stages'], 'required (a list of stages)') : c.array(top.stages, ['stages'], true);
  const stages: StageConfig[] = [];
  stagesRaw?.forEach((s, i) => {
    const st = readStage(c, s, i, preset ?? 'paper', seed ?? 42, baseDir, checkPaths);
    if (st) stages.push(st);
  });
  const names = new Map<string, number>();
  stages.forEach((s, i) => {
    const prev = names.get(s.name);
    if (prev !== undefined) c.fail(['stages', i, 'name'], `duplicate stage name "${s.name}" (also stages[${prev}]); names label checkpoints`);
    names.set(s.name, i);
  });
  const keep = top.keepCheckpoints === undefined ? undefined : c.number(top.keepCheckpoints, ['keepCheckpoints'], { integer: true, min: 1 });
  if (!model || output === undefined || seed === undefined || c.issues.length > 0) return undefined;
  const config: TrainConfig = { model, output: resolve(baseDir, output), seed, stages };
  if (keep !== undefined) config.keepCheckpoints = keep;
  return config;
}

function readModel(c: Checker, raw: unknown, baseDir: string, checkPaths: boolean): ModelSpec | undefined {
  const m = c.object(raw, ['model']);
  if (!m) return undefined;
  c.keys(m, ['model'], MODEL_KEYS);
  const out: ModelSpec = {};
  if ((m.path === undefined) === (m.init === undefined)) return c.fail(['model'], 'give exactly one of "path" (a checkpoint directory) or "init" (random initialisation)');
  if (m.path !== undefined) {
    const p = c.string(m.path, ['model', 'path']);
    if (p !== undefined) {
      out.path = resolve(baseDir, p);
      if (checkPaths) c.exists(out.path, ['model', 'path'], 'dir');
    }
  } else {
    const init = c.object(m.init, ['model', 'init']);
    if (init) {
      c.keys(init, ['model', 'init'], INIT_KEYS);
      let cfg: string | Record<string, unknown> | undefined;
      if (init.config === undefined) c.fail(['model', 'init', 'config'], 'required (a model config.json to initialise from, or its fields inline)');
      else if (init.config !== null && typeof init.config === 'object' && !Array.isArray(init.config)) {
        cfg = init.config as Record<string, unknown>;
        if (typeof cfg.model_type !== 'string') c.fail(['model', 'init', 'config', 'model_type'], 'required (qwen2, qwen3 or bert)');
      } else cfg = c.string(init.config, ['model', 'init', 'config']);
      const tok = init.tokenizer === undefined ? c.fail(['model', 'init', 'tokenizer'], 'required (a folder with tokenizer.json)') : c.string(init.tokenizer, ['model', 'init', 'tokenizer']);
      const seed = init.seed === undefined ? 0 : c.number(init.seed, ['model', 'init', 'seed'], { integer: true, min: 0, max: 0xffffffff });
      if (cfg !== undefined && tok !== undefined && seed !== undefined) {
        out.init = { config: typeof cfg === 'string' ? resolve(baseDir, cfg) : cfg, tokenizer: resolve(baseDir, tok), seed };
        if (checkPaths) {
          if (typeof out.init.config === 'string') c.exists(out.init.config, ['model', 'init', 'config'], 'file');
          c.exists(out.init.tokenizer, ['model', 'init', 'tokenizer'], 'dir');
        }
      }
    }
  }
  if (m.attention !== undefined) out.attention = c.oneOf(m.attention, ['model', 'attention'], ['bidirectional', 'causal'] as const);
  if (m.pooling !== undefined) out.pooling = c.oneOf(m.pooling, ['model', 'pooling'], ['mean', 'cls', 'last'] as const);
  if (m.dtype !== undefined) out.dtype = c.oneOf(m.dtype, ['model', 'dtype'], ['f32', 'int8', 'int4'] as const);
  return out;
}

function readStage(c: Checker, raw: unknown, i: number, preset: PresetName, topSeed: number, baseDir: string, checkPaths: boolean): StageConfig | undefined {
  const at = (...rest: PathSeg[]): PathSeg[] => ['stages', i, ...rest];
  const s = c.object(raw, at());
  if (!s) return undefined;
  c.keys(s, at(), STAGE_KEYS);
  const presetName: StagePresetName | undefined =
    s.preset === undefined ? (`${preset}-stage${i === 0 ? 1 : 2}` as StagePresetName) : c.oneOf(s.preset, at('preset'), STAGE_PRESET_NAMES);
  const d = stagePreset(presetName ?? 'paper-stage1');
  const issuesBefore = c.issues.length;

  const name = s.name === undefined ? `stage${i + 1}` : c.string(s.name, at('name'));
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) c.fail(at('name'), `"${name}" is not a safe folder name (letters, digits, ".", "_", "-")`);
  const pos = { min: 0, minExclusive: true };
  const num = <K extends keyof PresetStage>(key: K, rule: Parameters<Checker['number']>[2]): number | undefined =>
    s[key] === undefined ? (d[key] as number) : c.number(s[key], at(key), rule);

  const steps = num('steps', { integer: true, min: 1 });
  const lr = num('lr', pos);
  // Unset warmup: the preset's, but at most a tenth of a shortened stage (quick runs need no 300-step warmup).
  const warmup = s.warmup === undefined ? (steps === undefined ? d.warmup : Math.min(d.warmup, Math.floor(steps / 10))) : c.number(s.warmup, at('warmup'), { integer: true, min: 0 });
  if (steps !== undefined && warmup !== undefined && warmup > steps) c.fail(at('warmup'), `warmup (${warmup}) exceeds the stage's steps (${steps}); the peak learning rate would never be reached`);
  const schedule = s.schedule === undefined ? d.schedule : c.oneOf(s.schedule, at('schedule'), SCHEDULE_KINDS);
  let minLrRatio: number | undefined;
  if (s.minLrRatio !== undefined) {
    minLrRatio = c.number(s.minLrRatio, at('minLrRatio'), { min: 0, max: 1 });
    if (schedule !== undefined && schedule !== 'cosine') c.fail(at('minLrRatio'), `applies to the cosine schedule only (this stage uses "${schedule}")`);
  }
  const batchSize = readFamilyInts(c, s.batchSize, at('batchSize'), d.batchSize, FAMILY_NAMES, 1);
  const negatives = readFamilyInts(c, s.negatives, at('negatives'), d.negatives, ['retrieval', 'cls'] as const, 0);
  const temperature = num('temperature', pos);
  const cosentScale = num('cosentScale', pos);
  const queryQueryNegatives = s.queryQueryNegatives === undefined ? d.queryQueryNegatives : c.boolean(s.queryQueryNegatives, at('queryQueryNegatives'));
  const clsOtherPositives = s.clsOtherPositives === undefined ? d.clsOtherPositives : c.oneOf(s.clsOtherPositives, at('clsOtherPositives'), ['omit', 'masked'] as const);
  const maxLength = readFamilyInts(c, s.maxLength, at('maxLength'), d.maxLength, ['query', 'passage'] as const, 1, false);

  let families: Family[] | undefined = d.families;
  if (s.families !== undefined) {
    const list = c.array(s.families, at('families'), true);
    if (list) {
      const seen = new Set<Family>();
      list.forEach((f, j) => {
        const v = c.oneOf(f, at('families', j), FAMILY_NAMES);
        if (v && seen.has(v)) c.fail(at('families', j), `"${v}" listed twice`);
        if (v) seen.add(v);
      });
      families = [...seen];
    }
  }
  let retrievalShare: number | null | undefined = d.retrievalShare;
  if (s.retrievalShare !== undefined) retrievalShare = s.retrievalShare === null ? null : c.number(s.retrievalShare, at('retrievalShare'), { min: 0, max: 1 });
  if (families && retrievalShare !== null && retrievalShare !== undefined) {
    if (!families.includes('retrieval')) {
      if (s.retrievalShare !== undefined) c.fail(at('retrievalShare'), 'set, but "retrieval" is not among the families');
      else retrievalShare = null; // a preset share without retrieval data means nothing
    } else if (families.length === 1 && retrievalShare !== 1) {
      if (s.retrievalShare !== undefined) c.fail(at('retrievalShare'), `is ${retrievalShare}, but retrieval is the only family`);
      else retrievalShare = null;
    }
  }
  const alpha = num('alpha', { min: 0 });
  let gradClip: number | null | undefined = d.gradClip;
  if (s.gradClip !== undefined) gradClip = s.gradClip === null ? null : c.number(s.gradClip, at('gradClip'), pos);
  const weightDecay = num('weightDecay', { min: 0 });
  let betas: [number, number] | undefined = d.betas;
  if (s.betas !== undefined) {
    const b = c.array(s.betas, at('betas'), true);
    if (b && b.length !== 2) c.fail(at('betas'), `expected two numbers [beta1, beta2], got ${b.length}`);
    else if (b) {
      const b1 = c.number(b[0], at('betas', 0), { min: 0, max: 1, maxExclusive: true });
      const b2 = c.number(b[1], at('betas', 1), { min: 0, max: 1, maxExclusive: true });
      betas = b1 !== undefined && b2 !== undefined ? [b1, b2] : undefined;
    }
  }
  const eps = num('eps', pos);
  const noDecay = s.noDecay === undefined ? d.noDecay : c.strings(s.noDecay, at('noDecay'), false);
  const gradCacheChunk = num('gradCacheChunk', { integer: true, min: 1 });
  let lora: LoraConfig | null | undefined = d.lora;
  if (s.lora !== undefined && s.lora !== null) lora = readLora(c, s.lora, at('lora'));
  else if (s.lora === null) lora = null;
  const checkpointEvery = num('checkpointEvery', { integer: true, min: 0 });
  let evalSchedule: EvalSchedule | null | undefined = d.eval;
  if (s.eval === null) evalSchedule = null;
  else if (s.eval !== undefined) {
    const e = c.object(s.eval, at('eval'));
    if (e) {
      c.keys(e, at('eval'), EVAL_KEYS);
      const every = e.every === undefined ? c.fail(at('eval', 'every'), 'required (evaluate every N steps)') : c.number(e.every, at('eval', 'every'), { integer: true, min: 1 });
      const tasks = e.tasks === undefined ? c.fail(at('eval', 'tasks'), 'required (evaluation task names)') : c.strings(e.tasks, at('eval', 'tasks'), true);
      let dataDir: string | undefined;
      if (e.dataDir !== undefined) {
        const d = c.string(e.dataDir, at('eval', 'dataDir'));
        if (d !== undefined) {
          dataDir = resolve(baseDir, d);
          if (checkPaths) c.exists(dataDir, at('eval', 'dataDir'), 'dir');
        }
      }
      const splits = e.splits === undefined ? undefined : c.strings(e.splits, at('eval', 'splits'), true);
      // Task folders given as relative paths are resolved like every other path of the config.
      const resolvedTasks = tasks?.map((t) => (t.includes('/') || t.startsWith('.') ? resolve(baseDir, t) : t));
      evalSchedule = every !== undefined && resolvedTasks !== undefined ? { every, tasks: resolvedTasks } : undefined;
      if (evalSchedule && dataDir !== undefined) evalSchedule.dataDir = dataDir;
      if (evalSchedule && splits !== undefined) evalSchedule.splits = splits;
    }
  }
  const seed = s.seed === undefined ? topSeed : c.number(s.seed, at('seed'), { integer: true, min: 0, max: 0xffffffff });
  const data = s.data === undefined ? c.fail(at('data'), 'required (canonical JSONL files or directories)') : readData(c, s.data, at('data'), baseDir, checkPaths);

  if (c.issues.length > issuesBefore) return undefined;
  const stage: StageConfig = {
    name: name!,
    preset: presetName!,
    steps: steps!,
    lr: lr!,
    warmup: warmup!,
    schedule: schedule!,
    batchSize: batchSize!,
    negatives: negatives!,
    temperature: temperature!,
    cosentScale: cosentScale!,
    queryQueryNegatives: queryQueryNegatives!,
    clsOtherPositives: clsOtherPositives!,
    maxLength: maxLength!,
    data: data!,
    families: families!,
    retrievalShare: retrievalShare!,
    alpha: alpha!,
    gradClip: gradClip!,
    weightDecay: weightDecay!,
    betas: betas!,
    eps: eps!,
    noDecay: noDecay!,
    gradCacheChunk: gradCacheChunk!,
    lora: lora!,
    checkpointEvery: checkpointEvery!,
    eval: evalSchedule!,
    seed: seed!,
  };
  if (minLrRatio !== undefined) stage.minLrRatio = minLrRatio;
  return stage;
}

/** A mapping of per-key positive integers merged over defaults; a bare number sets every key. */
function readFamilyInts<K extends string>(
  c: Checker,
  raw: unknown,
  path: PathSeg[],
  defaults: Record<K, number>,
  keys: readonly K[],
  min: number,
  allowScalar = true,
): Record<K, number> | undefined {
  const out = { ...defaults };
  if (raw === undefined) return out;
  if (allowScalar && typeof raw === 'number') {
    const v = c.number(raw, path, { integer: true, min });
    if (v === undefined) return undefined;
    for (const k of keys) out[k] = v;
    return out;
  }
  const o = c.object(raw, path);
  if (!o) return undefined;
  c.keys(o, path, keys);
  let ok = true;
  for (const k of keys) {
    if (o[k] === undefined) continue;
    const v = c.number(o[k], [...path, k], { integer: true, min });
    if (v === undefined) ok = false;
    else out[k] = v;
  }
  return ok ? out : undefined;
}

function readLora(c: Checker, raw: unknown, path: PathSeg[]): LoraConfig | undefined {
  const o = c.object(raw, path);
  if (!o) return undefined;
  c.keys(o, path, LORA_KEYS);
  const rank = o.rank === undefined ? c.fail([...path, 'rank'], 'required (adapter rank, e.g. 16)') : c.number(o.rank, [...path, 'rank'], { integer: true, min: 1 });
  const alpha = o.alpha === undefined ? (rank ?? 1) * 2 : c.number(o.alpha, [...path, 'alpha'], { min: 0, minExclusive: true });
  const dropout = o.dropout === undefined ? 0 : c.number(o.dropout, [...path, 'dropout'], { min: 0, max: 1, maxExclusive: true });
  const targets = o.targets === undefined ? ['q_proj', 'k_proj', 'v_proj', 'o_proj'] : c.strings(o.targets, [...path, 'targets'], true);
  if (rank === undefined || alpha === undefined || dropout === undefined || targets === undefined) return undefined;
  return { rank, alpha, dropout, targets };
}

function readData(c: Checker, raw: unknown, path: PathSeg[], baseDir: string, checkPaths: boolean): DataSource[] | undefined {
  const list = c.array(raw, path, true);
  if (!list) return undefined;
  const out: DataSource[] = [];
  let ok = true;
  list.forEach((item, j) => {
    const p = [...path, j];
    const src = readDataSource(c, typeof item === 'string' ? { path: item } : item, p, baseDir, checkPaths);
    if (src) out.push(src);
    else ok = false;
  });
  return ok ? out : undefined;
}

function readDataSource(c: Checker, raw: unknown, path: PathSeg[], baseDir: string, checkPaths: boolean): DataSource | undefined {
  const o = c.object(raw, path);
  if (!o) return undefined;
  c.keys(o, path, DATA_KEYS);
  const before = c.issues.length;
  const p = o.path === undefined ? c.fail([...path, 'path'], 'required (a canonical JSONL file or directory)') : c.string(o.path, [...path, 'path']);
  const src: DataSource = { path: p === undefined ? '' : resolve(baseDir, p) };
  if (p !== undefined && checkPaths) c.exists(src.path, [...path, 'path'], 'any');
  if (o.dataset !== undefined) src.dataset = c.string(o.dataset, [...path, 'dataset']);
  if (o.instruction !== undefined && o.task !== undefined) c.fail([...path, 'task'], 'give either "instruction" or "task", not both');
  if (o.instruction !== undefined) src.instruction = c.string(o.instruction, [...path, 'instruction'], false);
  if (o.task !== undefined) {
    const t = c.string(o.task, [...path, 'task']);
    if (t !== undefined) {
      const entry = taskInstruction(t);
      if (!entry) c.fail([...path, 'task'], `"${t}" is not in the instruction tables (src/model/instructions.ts); give "instruction" instead`);
      else {
        src.task = t;
        src.instruction = entry.instruction;
        src.sides = entry.sides;
      }
    }
  }
  if (o.sides !== undefined) src.sides = c.oneOf(o.sides, [...path, 'sides'], ['query', 'both'] as const);
  return c.issues.length > before ? undefined : src;
}

/**
 * The instruction for one text of a training record: the record's own `instruction` field if it has
 * one, else its data source's. Query-side texts always get it; document-side texts only when the sides
 * are 'both' — by default 'query' for retrieval and 'both' for pair and cls data (symmetric tasks, as
 * in the QZhou evaluation tables). Returns undefined for no prefix.
 */
export function trainingInstruction(
  family: Family,
  kind: 'query' | 'document',
  source: Pick<DataSource, 'instruction' | 'sides'>,
  recordInstruction?: string,
): string | undefined {
  const instruction = recordInstruction !== undefined && recordInstruction !== '' ? recordInstruction : source.instruction;
  if (!instruction) return undefined;
  const sides = source.sides ?? (family === 'retrieval' ? 'query' : 'both');
  return kind === 'query' || sides === 'both' ? instruction : undefined;
}
