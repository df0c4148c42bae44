// Result files in mteb's layout (one <Task>.json per task, model_meta.json beside them), written the way
// mteb 1.38.30's TaskResult.to_disk writes them: every float under "scores" rounded to 6 decimals with
// Python's round(), serialised like Python's json.dump(indent=2) (float repr, NaN, ASCII escapes).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pythonRound } from './numeric.js';
import type { TaskMetadata } from './tasks.js';
import { writeFileAtomicSync } from '../util/atomic-file.js';

/** The mteb version whose semantics (and result layout) qzhou reproduces. */
export const MTEB_SEMANTICS_VERSION = '1.38.30';

export type ScoreValue = number | string | null | ScoreValue[] | { [key: string]: ScoreValue };

export interface SubsetScores {
  [metric: string]: ScoreValue;
  main_score: number;
  hf_subset: string;
  languages: string[];
}

export interface TaskResultJson {
  dataset_revision: string;
  task_name: string;
  mteb_version: string;
  scores: Record<string, SubsetScores[]>;
  evaluation_time: number | null;
  kg_co2_emissions: number | null;
}

/** Rounds every number in a score tree to `digits` decimals (Python round), leaving strings alone. */
export function roundScores<T extends ScoreValue>(value: T, digits = 6): T {
  if (typeof value === 'number') return pythonRound(value, digits) as T;
  if (Array.isArray(value)) return value.map((v) => roundScores(v, digits)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, ScoreValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = roundScores(v, digits);
    return out as T;
  }
  return value;
}

/** Python's repr() of a float. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

function pythonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) {
      if (c > 0xffff) {
        const v = c - 0x10000;
        out += `\\u${(0xd800 + (v >> 10)).toString(16).padStart(4, '0')}\\u${(0xdc00 + (v & 0x3ff)).toString(16).padStart(4, '0')}`;
      } else out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

/** Python's json.dumps(value, indent=2), every number printed as a Python float (mteb's scores are floats). */
export function pythonJson(value: unknown, indent = 2, level = 0): string {
  const pad = ' '.repeat(indent * (level + 1));
  const end = ' '.repeat(indent * level);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return pythonFloatRepr(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => pad + pythonJson(v, indent, level + 1)).join(',\n')}\n${end}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${pad}${pythonString(k)}: ${pythonJson(v, indent, level + 1)}`).join(',\n')}\n${end}}`;
}

/** Parses JSON that may contain Python's NaN / Infinity / -Infinity literals. */
export function parsePythonJson(text: string): unknown {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith('NaN', i)) {
      out += '"\\u0000NaN"';
      i += 3;
    } else if (text.startsWith('-Infinity', i)) {
      out += '"\\u0000-Inf"';
      i += 9;
    } else if (text.startsWith('Infinity', i)) {
      out += '"\\u0000Inf"';
      i += 8;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out, (_k, v) => (v === '\u0000NaN' ? NaN : v === '\u0000Inf' ? Infinity : v === '\u0000-Inf' ? -Infinity : v));
}

/** Builds a task's result object: per split, one entry per subset with main_score, hf_subset and languages. */
export function taskResult(task: TaskMetadata, scores: Record<string, Record<string, Record<string, ScoreValue>>>, evaluationTime: number): TaskResultJson {
  const out: TaskResultJson = {
    dataset_revision: task.dataset.revision,
    task_name: task.name,
    mteb_version: MTEB_SEMANTICS_VERSION,
    scores: {},
    evaluation_time: evaluationTime,
    kg_co2_emissions: null,
  };
  for (const [split, bySubset] of Object.entries(scores)) {
    out.scores[split] = Object.entries(bySubset).map(([subset, s]) => {
      const main = s[task.mainScore];
      if (typeof main !== 'number') throw new Error(`${task.name}: main score "${task.mainScore}" missing from the ${split}/${subset} scores`);
      return { ...roundScores(s), main_score: pythonRound(main, 6), hf_subset: subset, languages: task.subsets[subset] ?? task.subsets.default ?? ['und'] } as SubsetScores;
    });
  }
  return out;
}

/**
 * `next` with the entries of `prev` that `next` did not re-evaluate (other splits or subsets of the same
 * task), so evaluating a task split by split never drops the splits scored before.
 */
export function mergeTaskResults(prev: TaskResultJson, next: TaskResultJson): TaskResultJson {
  const scores: Record<string, SubsetScores[]> = {};
  for (const split of new Set([...Object.keys(prev.scores), ...Object.keys(next.scores)])) {
    const fresh = next.scores[split] ?? [];
    const kept = (prev.scores[split] ?? []).filter((e) => !fresh.some((f) => f.hf_subset === e.hf_subset));
    scores[split] = [...kept, ...fresh];
  }
  return { ...next, scores };
}

/** mteb's folder name for a model: "org/name" → "org__name". */
export function modelFolderName(name: string): string {
  return name.replace(/\//g, '__').replace(/[^A-Za-z0-9._+-]+/g, '_');
}

/** <output>/<model>/<revision>/ */
export function resultsFolder(outputDir: string, modelName: string, revision: string): string {
  return join(outputDir, modelFolderName(modelName), revision.replace(/[^A-Za-z0-9._-]+/g, '_'));
}

/** Writes <folder>/<Task>.json atomically, as mteb does (no trailing newline). */
export function writeTaskResult(folder: string, result: TaskResultJson): string {
  const path = join(folder, `${result.task_name}.json`);
  writeFileAtomicSync(path, pythonJson(result));
  return path;
}

export function writeJsonFile(path: string, value: unknown): void {
  writeFileAtomicSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Reads one task result file. */
export function readTaskResult(path: string): TaskResultJson {
  let v: unknown;
  try {
    v = parsePythonJson(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a readable result file (${(e as Error).message})`);
  }
  const r = v as TaskResultJson;
  if (!r || typeof r !== 'object' || typeof r.task_name !== 'string' || typeof r.scores !== 'object') throw new Error(`${path}: not an mteb result file (task_name and scores are required)`);
  return r;
}

/** Reads every <Task>.json of a results folder (model_meta.json and non-result files are skipped). */
export function readResultsFolder(folder: string): Map<string, TaskResultJson> {
  const out = new Map<string, TaskResultJson>();
  for (const name of readdirSync(folder)) {
    if (!name.endsWith('.json') || name === 'model_meta.json') continue;
    const r = readTaskResult(join(folder, name));
    out.set(r.task_name, r);
  }
  return out;
}

/** A minimal model_meta.json like the results repository's. */
export function writeModelMeta(folder: string, meta: { name: string; revision: string; dim: number; maxTokens?: number; instructions: boolean }): void {
  writeFileAtomicSync(
    join(folder, 'model_meta.json'),
    `${JSON.stringify(
      {
        name: meta.name,
        revision: meta.revision,
        release_date: null,
        languages: null,
        n_parameters: null,
        memory_usage_mb: null,
        max_tokens: meta.maxTokens ?? null,
        embed_dim: meta.dim,
        license: null,
        open_weights: null,
        public_training_code: null,
        public_training_data: null,
        framework: ['qzhou'],
        reference: null,
        similarity_fn_name: 'cosine',
        use_instructions: meta.instructions,
        training_datasets: null,
        adapted_from: null,
        superseded_by: null,
        is_cross_encoder: null,
        modalities: ['text'],
        loader: null,
      },
      null,
      4,
    )}`,
  );
}
