// Task data from local folders. Accepted layouts (see docs/eval.md):
// - a Hugging Face datasets folder (what `huggingface-cli download --repo-type dataset` writes): split
//   files such as data/test-00000-of-00001.parquet, test.jsonl, train.csv, <subset>/test.jsonl;
//   retrieval folders with corpus, queries and qrels (BEIR: corpus.jsonl, queries.jsonl, qrels/test.tsv;
//   C-MTEB: data/corpus-*.parquet, data/queries-*.parquet and a sibling <name>-qrels dataset);
// - the original STS Benchmark release (sts-train.csv / sts-dev.csv / sts-test.csv: tab-separated,
//   no header, score and sentences in fields 4, 5, 6);
// - any of these with a task.json describing the task (user tasks) and optionally naming files and columns.
// Every problem is reported with the file, line and field, or with the list of files that were expected.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { findSplitFiles, readRecords, type ReadOptions, type SourceRecord } from '../data/readers.js';
import type { ClusterSet, FastClusteringData } from './evaluators/clustering.js';
import type { LabelledTexts } from './evaluators/classification.js';
import type { PairData } from './evaluators/pair-classification.js';
import type { RerankingSample } from './evaluators/reranking.js';
import type { RetrievalData } from './evaluators/retrieval.js';
import type { StsData } from './evaluators/sts.js';
import type { SummarizationDoc } from './evaluators/summarization.js';
import { pythonLabelString, stratifiedTrainTestSplitTestRows, trainTestSplitTestRows } from './hf-split.js';
import type { Label } from './sklearn-metrics.js';
import { TASK_TYPES, type ClassificationSettings, type ClusteringSettings, type RetrievalSettings, type TaskMetadata, type TaskType } from './tasks.js';
import type { Qrels } from './trec.js';

export class TaskDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskDataError';
  }
}

/** task.json: describes a user task folder, or adjusts how a registry task's folder is read. */
export interface TaskFolderConfig {
  name?: string;
  type?: TaskType;
  mainScore?: string;
  evalSplits?: string[];
  languages?: string[];
  instruction?: string;
  instructionSides?: 'both' | 'query';
  classification?: Partial<ClassificationSettings>;
  retrieval?: Partial<RetrievalSettings>;
  clustering?: Partial<ClusteringSettings>;
  scoreRange?: [number, number];
  /** Files per split or role ("corpus", "queries", "qrels/<split>"), relative to the folder. */
  files?: Record<string, string | string[]>;
  /** Reader options for every file (format, delimiter, header, quote). */
  read?: Pick<ReadOptions, 'format' | 'delimiter' | 'header' | 'quote'>;
  /** Column names, keyed by the canonical field name (text, label, sentence1, sentence2, score, id, ...). */
  fields?: Record<string, string>;
}

/** Where a task's data is, and how to read it. */
export interface TaskSource {
  dir: string;
  /** Folder holding the qrels of a C-MTEB style retrieval task, when separate. */
  qrelsDir?: string;
  layout: 'hf' | 'stsb-original';
  config: TaskFolderConfig;
}

const DEFAULT_MAIN_SCORE: Record<TaskType, string> = {
  Retrieval: 'ndcg_at_10',
  Reranking: 'map',
  STS: 'cosine_spearman',
  PairClassification: 'max_ap',
  Classification: 'accuracy',
  Clustering: 'v_measure',
  Summarization: 'cosine_spearman',
};

const CONFIG_NAMES = ['task.json', 'qzhou-task.json'];

function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function readConfig(dir: string): TaskFolderConfig {
  for (const name of CONFIG_NAMES) {
    const p = join(dir, name);
    if (!existsSync(p)) continue;
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new TaskDataError(`${p}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TaskDataError(`${p}: expected a JSON object describing the task`);
    const c = value as TaskFolderConfig;
    if (c.type !== undefined && !TASK_TYPES.includes(c.type)) throw new TaskDataError(`${p}: field "type": "${c.type}" is not one of ${TASK_TYPES.join(', ')}`);
    if (c.evalSplits !== undefined && (!Array.isArray(c.evalSplits) || c.evalSplits.some((s) => typeof s !== 'string'))) throw new TaskDataError(`${p}: field "evalSplits": expected a list of split names`);
    if (c.instructionSides !== undefined && c.instructionSides !== 'both' && c.instructionSides !== 'query') throw new TaskDataError(`${p}: field "instructionSides": expected "both" or "query"`);
    return c;
  }
  return {};
}

function stsbOriginal(dir: string): boolean {
  return ['sts-train.csv', 'sts-dev.csv', 'sts-test.csv'].some((f) => existsSync(join(dir, f)));
}

/** Candidate folders for a registry task under a data directory, in the order they are tried. */
export function candidateFolders(dataDir: string, task: TaskMetadata): string[] {
  const p = task.dataset.path;
  const names = [task.name, p, p.replace('/', '__'), basename(p), task.name.toLowerCase(), basename(p).toLowerCase()];
  return [...new Set(names)].map((n) => join(dataDir, n));
}

/** Finds and describes the folder of a registry task. */
export function locateTask(dataDir: string, task: TaskMetadata): TaskSource {
  if (!isDir(dataDir)) throw new TaskDataError(`data directory ${dataDir} does not exist`);
  const tried = candidateFolders(dataDir, task);
  const dir = tried.find(isDir);
  if (!dir) {
    throw new TaskDataError(
      `${task.name}: no data folder found. Looked for ${tried.map((t) => `${t}/`).join(', ')}. ` +
        `Download the dataset (${task.dataset.path} @ ${task.dataset.revision}) into one of them, e.g. ` +
        `huggingface-cli download --repo-type dataset ${task.dataset.path} --revision ${task.dataset.revision} --local-dir ${tried[1]}`,
    );
  }
  const source: TaskSource = { dir, layout: stsbOriginal(dir) ? 'stsb-original' : 'hf', config: readConfig(dir) };
  if (task.dataset.qrelsPath) {
    const q = [join(dataDir, task.dataset.qrelsPath), join(dataDir, task.dataset.qrelsPath.replace('/', '__')), join(dataDir, basename(task.dataset.qrelsPath)), `${dir}-qrels`].find(isDir);
    if (q) source.qrelsDir = q;
  }
  return source;
}

/** Infers a task type from a folder's files when task.json does not give one. */
function inferType(dir: string): TaskType | undefined {
  const names = readdirSync(dir);
  const has = (re: RegExp) => names.some((n) => re.test(n));
  if ((has(/^corpus/i) || isDir(join(dir, 'corpus'))) && (has(/^queries/i) || isDir(join(dir, 'queries')))) return 'Retrieval';
  if (stsbOriginal(dir)) return 'STS';
  return undefined;
}

/** Reads a user task folder (a folder with data files and usually a task.json). */
export function loadTaskFolder(path: string): { task: TaskMetadata; source: TaskSource } {
  const dir = resolve(path);
  if (!isDir(dir)) throw new TaskDataError(`task folder ${path} does not exist`);
  const config = readConfig(dir);
  const type = config.type ?? inferType(dir);
  if (!type) {
    throw new TaskDataError(
      `${dir}: cannot tell the task type. Add a task.json such as {"type": "Classification"} ` +
        `(one of ${TASK_TYPES.join(', ')}), or use the retrieval layout corpus.jsonl + queries.jsonl + qrels/<split>.tsv`,
    );
  }
  const name = config.name ?? basename(dir);
  const languages = config.languages ?? ['und'];
  const task: TaskMetadata = {
    name,
    type,
    mainScore: config.mainScore ?? DEFAULT_MAIN_SCORE[type],
    evalSplits: config.evalSplits ?? ['test'],
    subsets: { default: languages },
    dataset: { path: dir, revision: 'local' },
  };
  if (type === 'Classification') task.classification = { samplesPerLabel: 8, nExperiments: 10, ...config.classification };
  if (type === 'Retrieval') task.retrieval = { ignoreIdenticalIds: false, corpusText: 'title-space-text', ...config.retrieval };
  if (type === 'Clustering') task.clustering = { mode: 'fast', maxFraction: null, ...config.clustering };
  if (config.scoreRange) task.scoreRange = config.scoreRange;
  if (config.instruction !== undefined) {
    task.instruction = config.instruction;
    task.instructionSides = config.instructionSides ?? (type === 'Retrieval' || type === 'Reranking' ? 'query' : 'both');
  }
  return { task, source: { dir, layout: stsbOriginal(dir) ? 'stsb-original' : 'hf', config } };
}

/** Applies a folder's task.json overrides to a registry task (files/fields only affect reading). */
export function withFolderOverrides(task: TaskMetadata, source: TaskSource): TaskMetadata {
  const c = source.config;
  const t: TaskMetadata = { ...task };
  if (c.instruction !== undefined) {
    t.instruction = c.instruction;
    t.instructionSides = c.instructionSides ?? t.instructionSides ?? 'both';
  }
  if (c.classification && t.classification) t.classification = { ...t.classification, ...c.classification };
  if (c.retrieval && t.retrieval) t.retrieval = { ...t.retrieval, ...c.retrieval };
  if (c.clustering && t.clustering) t.clustering = { ...t.clustering, ...c.clustering };
  return t;
}

/** Python's str.strip(): the characters for which str.isspace() is true. */
const PY_SPACE = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
export function pythonStrip(s: string): string {
  return s.replace(PY_SPACE, '');
}

// ---------------------------------------------------------------------------------------------------
// Files and records

function subsetDir(source: TaskSource, subset: string): string {
  if (subset === 'default') return source.dir;
  const tried = [join(source.dir, subset), join(source.dir, 'data', subset)];
  const found = tried.find(isDir);
  if (!found) throw new TaskDataError(`subset "${subset}": no folder ${tried.join(' or ')}`);
  return found;
}

function listDataFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    for (const name of readdirSync(d)) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      if (isDir(p)) {
        if (depth < 4) walk(p, depth + 1);
      } else if (/\.(jsonl|ndjson|json|csv|tsv|parquet)(\.gz)?$/i.test(name)) out.push(p.slice(dir.length + 1));
    }
  };
  if (isDir(dir)) walk(dir, 0);
  return out.sort();
}

function configuredFiles(source: TaskSource, role: string, base: string): string[] | undefined {
  const f = source.config.files?.[role];
  if (f === undefined) return undefined;
  const list = Array.isArray(f) ? f : [f];
  return list.map((p) => {
    const full = isAbsolute(p) ? p : join(base, p);
    if (!existsSync(full)) throw new TaskDataError(`${join(source.dir, CONFIG_NAMES[0]!)}: files.${role}: ${full} does not exist`);
    return full;
  });
}

/** The files of one split (or role) in a folder; throws listing what was expected and what exists. */
function splitFiles(source: TaskSource, dir: string, split: string, what: string): string[] {
  const configured = configuredFiles(source, split, source.dir);
  if (configured) return configured;
  const files = findSplitFiles(dir, split);
  if (files.length) return files;
  const present = listDataFiles(dir);
  throw new TaskDataError(
    `${what}: no data files for split "${split}" in ${dir}. Expected e.g. ${split}.jsonl, ${split}.csv, data/${split}-00000-of-00001.parquet or ${split}/*.parquet ` +
      `(or name them in task.json "files"). Data files present: ${present.length ? present.slice(0, 20).join(', ') + (present.length > 20 ? ', …' : '') : 'none'}`,
  );
}

async function readAll(files: string[], source: TaskSource, extra: ReadOptions = {}): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for (const f of files) for await (const r of readRecords(f, { ...source.config.read, ...extra })) out.push(r);
  return out;
}

function where(r: SourceRecord): string {
  return `${r.file}:${r.line}`;
}

/** The value of the first present field among the aliases (task.json "fields" first). */
function pick(source: TaskSource, r: SourceRecord, canonical: string, aliases: readonly string[], optional = false): unknown {
  const mapped = source.config.fields?.[canonical];
  const names = mapped ? [mapped] : aliases;
  for (const n of names) if (n in r.record) return r.record[n];
  if (optional) return undefined;
  throw new TaskDataError(`${where(r)}: missing field "${names[0]}"${names.length > 1 ? ` (or ${names.slice(1).join(', ')})` : ''}; the record has ${Object.keys(r.record).join(', ') || 'no fields'}`);
}

function asString(v: unknown, r: SourceRecord, field: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new TaskDataError(`${where(r)}: field "${field}": expected text, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
}

function asNumber(v: unknown, r: SourceRecord, field: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new TaskDataError(`${where(r)}: field "${field}": expected a number, got ${JSON.stringify(v)}`);
  return n;
}

function asLabel(v: unknown, r: SourceRecord, field: string): Label {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return v;
  throw new TaskDataError(`${where(r)}: field "${field}": expected a label (text or number), got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
}

function asList(v: unknown, r: SourceRecord, field: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>);
  throw new TaskDataError(`${where(r)}: field "${field}": expected a list, got ${v === null ? 'null' : typeof v}`);
}

const F = {
  text: ['text', 'sentence', 'content', 'review'],
  label: ['label', 'labels', 'category', 'intent', 'class'],
  s1: ['sentence1', 'sent1', 'text1', 's1'],
  s2: ['sentence2', 'sent2', 'text2', 's2'],
  score: ['score', 'label', 'similarity', 'gold_score'],
  pairLabels: ['labels', 'label'],
  sentences: ['sentences', 'sentence', 'text'],
  clusterLabels: ['labels', 'label'],
  docId: ['_id', 'id', 'doc_id', 'docid', 'corpus-id', 'corpus_id', 'pid'],
  title: ['title'],
  docText: ['text', 'contents', 'content', 'passage'],
  queryId: ['_id', 'id', 'query_id', 'query-id', 'qid'],
  queryText: ['text', 'query'],
  qrelQuery: ['query-id', 'query_id', 'qid'],
  qrelDoc: ['corpus-id', 'corpus_id', 'doc_id', 'docid', 'pid'],
  qrelScore: ['score', 'relevance', 'label', 'rel'],
} as const;

// ---------------------------------------------------------------------------------------------------
// STS Benchmark original release: tab-separated, no quoting, score and sentences in fields 4, 5, 6.

const STSB_FILES: Record<string, string> = { train: 'sts-train.csv', validation: 'sts-dev.csv', dev: 'sts-dev.csv', test: 'sts-test.csv' };

async function readStsbOriginal(source: TaskSource, split: string): Promise<StsData> {
  const name = STSB_FILES[split];
  const file = name ? join(source.dir, name) : undefined;
  if (!file || !existsSync(file)) {
    const present = ['train', 'validation', 'test'].filter((s) => existsSync(join(source.dir, STSB_FILES[s]!))).map((s) => `${s} (${STSB_FILES[s]})`);
    throw new TaskDataError(`${source.dir}: STS Benchmark release has no file for split "${split}" (expected ${name ?? 'sts-<split>.csv'}); available: ${present.join(', ') || 'none'}`);
  }
  const data: StsData = { sentence1: [], sentence2: [], scores: [] };
  for await (const r of readRecords(file, { format: 'tsv', header: false, quote: false })) {
    if (!('6' in r.record)) throw new TaskDataError(`${where(r)}: expected at least 7 tab-separated fields (genre, file, year, id, score, sentence1, sentence2), got ${Object.keys(r.record).length}`);
    data.scores.push(asNumber(r.record['4'], r, 'field 5 (score)'));
    data.sentence1.push(asString(r.record['5'], r, 'field 6 (sentence1)'));
    data.sentence2.push(asString(r.record['6'], r, 'field 7 (sentence2)'));
  }
  return data;
}

// ---------------------------------------------------------------------------------------------------
// Per-type loaders

export async function loadStsData(source: TaskSource, split: string, subset: string): Promise<StsData> {
  if (source.layout === 'stsb-original') return readStsbOriginal(source, split);
  const dir = subsetDir(source, subset);
  const recs = await readAll(splitFiles(source, dir, split, 'STS'), source);
  const data: StsData = { sentence1: [], sentence2: [], scores: [] };
  for (const r of recs) {
    data.sentence1.push(asString(pick(source, r, 'sentence1', F.s1), r, 'sentence1'));
    data.sentence2.push(asString(pick(source, r, 'sentence2', F.s2), r, 'sentence2'));
    data.scores.push(asNumber(pick(source, r, 'score', F.score), r, 'score'));
  }
  return data;
}

export async function loadPairData(source: TaskSource, split: string, subset: string): Promise<PairData> {
  const dir = subsetDir(source, subset);
  const recs = await readAll(splitFiles(source, dir, split, 'PairClassification'), source);
  const data: PairData = { sentence1: [], sentence2: [], labels: [] };
  if (recs.length === 0) return data;
  const first = recs[0]!;
  const s1 = pick(source, first, 'sentence1', F.s1);
  if (Array.isArray(s1) || ArrayBuffer.isView(s1)) {
    // mteb's layout: one row holding the lists (only the first row is used, as mteb does).
    const a = asList(s1, first, 'sentence1');
    const b = asList(pick(source, first, 'sentence2', F.s2), first, 'sentence2');
    const l = asList(pick(source, first, 'labels', F.pairLabels), first, 'labels');
    if (a.length !== b.length || a.length !== l.length) throw new TaskDataError(`${where(first)}: sentence1, sentence2 and labels have ${a.length}, ${b.length} and ${l.length} entries`);
    a.forEach((x, i) => {
      data.sentence1.push(asString(x, first, `sentence1[${i}]`));
      data.sentence2.push(asString(b[i], first, `sentence2[${i}]`));
      data.labels.push(asNumber(l[i], first, `labels[${i}]`));
    });
    return data;
  }
  for (const r of recs) {
    data.sentence1.push(asString(pick(source, r, 'sentence1', F.s1), r, 'sentence1'));
    data.sentence2.push(asString(pick(source, r, 'sentence2', F.s2), r, 'sentence2'));
    data.labels.push(asNumber(pick(source, r, 'labels', F.pairLabels), r, 'label'));
  }
  return data;
}

async function loadLabelled(source: TaskSource, dir: string, split: string): Promise<LabelledTexts> {
  const recs = await readAll(splitFiles(source, dir, split, 'Classification'), source);
  const out: LabelledTexts = { texts: [], labels: [] };
  for (const r of recs) {
    out.texts.push(asString(pick(source, r, 'text', F.text), r, 'text'));
    out.labels.push(asLabel(pick(source, r, 'label', F.label), r, 'label'));
  }
  return out;
}

/** mteb's AbsTask seed, which its dataset transforms pass to HF datasets' train_test_split. */
const MTEB_SEED = 42;

/**
 * The rows mteb keeps when it subsamples a split to `target` rows with HF datasets' train_test_split
 * (stratified by `labels` when given), in the order mteb then sees them; null when the split is already no
 * larger (mteb leaves it as it is, so an already-subsampled split can be passed too).
 */
function mtebSubsample(taskName: string, split: string, size: number, target: number, labels?: readonly string[]): number[] | null {
  if (size <= target) return null;
  try {
    return labels ? stratifiedTrainTestSplitTestRows(labels, target, MTEB_SEED) : trainTestSplitTestRows(size, target, MTEB_SEED);
  } catch (e) {
    throw new TaskDataError(`${taskName}: ${split} split: mteb's ${target}-row ${labels ? 'stratified ' : ''}subsample cannot be drawn: ${(e as Error).message}`);
  }
}

export async function loadClassificationData(task: TaskMetadata, source: TaskSource, split: string, subset: string): Promise<{ train: LabelledTexts; test: LabelledTexts }> {
  const dir = subsetDir(source, subset);
  const trainSplit = task.classification?.trainSplit ?? 'train';
  const train = await loadLabelled(source, dir, trainSplit);
  let test = await loadLabelled(source, dir, split);
  const target = task.classification?.stratifiedTestSubsample;
  const rows = target ? mtebSubsample(task.name, split, test.texts.length, target, test.labels.map(pythonLabelString)) : null;
  if (rows) test = { texts: rows.map((i) => test.texts[i]!), labels: rows.map((i) => test.labels[i]!) };
  return { train, test };
}

export async function loadClusteringData(task: TaskMetadata, source: TaskSource, split: string, subset: string): Promise<FastClusteringData | ClusterSet[]> {
  const dir = subsetDir(source, subset);
  const recs = await readAll(splitFiles(source, dir, split, 'Clustering'), source);
  const settings = task.clustering ?? { mode: 'fast' };
  if (settings.mode === 'legacy') {
    return recs.map((r) => {
      const s = asList(pick(source, r, 'sentences', F.sentences), r, 'sentences');
      const l = asList(pick(source, r, 'labels', F.clusterLabels), r, 'labels');
      if (s.length !== l.length) throw new TaskDataError(`${where(r)}: ${s.length} sentences but ${l.length} labels`);
      return { sentences: s.map((x, i) => asString(x, r, `sentences[${i}]`)), labels: l.map((x, i) => asLabel(x, r, `labels[${i}]`)) };
    });
  }
  // Fast: one document per entry; rows holding lists are flattened in order (mteb's dataset_transform).
  let sentences: string[] = [];
  let labels: (string | string[])[] = [];
  for (const r of recs) {
    const s = pick(source, r, 'sentences', F.sentences);
    const l = pick(source, r, 'labels', F.clusterLabels);
    if (Array.isArray(s) || ArrayBuffer.isView(s)) {
      const sl = asList(s, r, 'sentences');
      const ll = asList(l, r, 'labels');
      if (sl.length !== ll.length) throw new TaskDataError(`${where(r)}: ${sl.length} sentences but ${ll.length} labels`);
      sl.forEach((x, i) => {
        sentences.push(asString(x, r, `sentences[${i}]`));
        const li = ll[i];
        labels.push(Array.isArray(li) ? li.map((y, j) => asString(y, r, `labels[${i}][${j}]`)) : asString(li, r, `labels[${i}]`));
      });
    } else {
      sentences.push(asString(s, r, 'sentences'));
      labels.push(Array.isArray(l) ? l.map((y, j) => asString(y, r, `labels[${j}]`)) : asString(l, r, 'labels'));
    }
  }
  if (settings.removeSoloLabels) {
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(String(l), (counts.get(String(l)) ?? 0) + 1);
    const keep = labels.map((l) => counts.get(String(l))! > 1);
    sentences = sentences.filter((_, i) => keep[i]);
    labels = labels.filter((_, i) => keep[i]);
  }
  let paths = labels.map((l) => (Array.isArray(l) ? l : settings.labelSeparator ? l.split(settings.labelSeparator) : [l]));
  // StackExchangeClustering.v2 stratifies by its (single-level) label; ArXivHierarchical* split plainly.
  const target = settings.testSubsample ?? settings.stratifiedSubsample;
  const rows = target ? mtebSubsample(task.name, split, sentences.length, target, settings.stratifiedSubsample ? paths.map((p) => p.join('.')) : undefined) : null;
  if (rows) {
    sentences = rows.map((i) => sentences[i]!);
    paths = rows.map((i) => paths[i]!);
  }
  return { sentences, labels: paths };
}

export async function loadSummarizationData(source: TaskSource, split: string, subset: string): Promise<SummarizationDoc[]> {
  const dir = subsetDir(source, subset);
  const recs = await readAll(splitFiles(source, dir, split, 'Summarization'), source);
  return recs.map((r) => {
    const human = asList(pick(source, r, 'human_summaries', ['human_summaries']), r, 'human_summaries').map((x, i) => asString(x, r, `human_summaries[${i}]`));
    const machine = asList(pick(source, r, 'machine_summaries', ['machine_summaries']), r, 'machine_summaries').map((x, i) => asString(x, r, `machine_summaries[${i}]`));
    const relevance = asList(pick(source, r, 'relevance', ['relevance']), r, 'relevance').map((x, i) => asNumber(x, r, `relevance[${i}]`));
    if (machine.length !== relevance.length) throw new TaskDataError(`${where(r)}: ${machine.length} machine summaries but ${relevance.length} relevance scores`);
    if (human.length === 0) throw new TaskDataError(`${where(r)}: no human summaries`);
    return { human, machine, relevance };
  });
}

export async function loadRerankingData(source: TaskSource, split: string, subset: string): Promise<RerankingSample[]> {
  const dir = subsetDir(source, subset);
  const recs = await readAll(splitFiles(source, dir, split, 'Reranking'), source);
  return recs.map((r) => {
    const q = pick(source, r, 'query', ['query']);
    const query = Array.isArray(q) ? q.map((x, i) => asString(x, r, `query[${i}]`)) : asString(q, r, 'query');
    const positive = asList(pick(source, r, 'positive', ['positive', 'positives', 'pos']), r, 'positive').map((x, i) => asString(x, r, `positive[${i}]`));
    const negative = asList(pick(source, r, 'negative', ['negative', 'negatives', 'neg']), r, 'negative').map((x, i) => asString(x, r, `negative[${i}]`));
    return { query, positive, negative };
  });
}

function roleFiles(source: TaskSource, dir: string, role: 'corpus' | 'queries'): string[] {
  const configured = configuredFiles(source, role, source.dir);
  if (configured) return configured;
  const files = findSplitFiles(dir, role);
  if (files.length) return files;
  if (isDir(join(dir, role))) {
    const inside = listDataFiles(join(dir, role)).map((f) => join(dir, role, f));
    if (inside.length) return inside;
  }
  throw new TaskDataError(
    `Retrieval: no ${role} file in ${dir}. Expected ${role}.jsonl (BEIR), data/${role}-00000-of-00001.parquet (C-MTEB) or ${role}/*.parquet ` +
      `(or name it in task.json "files"). Data files present: ${listDataFiles(dir).slice(0, 20).join(', ') || 'none'}`,
  );
}

function qrelsFiles(source: TaskSource, dir: string, split: string, exclude: Set<string>): string[] {
  const configured = configuredFiles(source, `qrels/${split}`, source.dir);
  if (configured) return configured;
  const tried: string[] = [];
  const candidates = [join(dir, 'qrels'), join(dir, 'default'), ...(source.qrelsDir ? [source.qrelsDir] : []), `${dir}-qrels`, join(dirname(dir), `${basename(dir)}-qrels`)];
  for (const c of [...new Set(candidates)]) {
    tried.push(`${c}/`);
    if (!isDir(c)) continue;
    const f = findSplitFiles(c, split);
    if (f.length) return f;
  }
  const inDir = findSplitFiles(dir, split).filter((f) => !exclude.has(f));
  if (inDir.length) return inDir;
  throw new TaskDataError(
    `Retrieval: no qrels for split "${split}". Looked in ${tried.join(', ')} and ${dir}/ for ${split}.tsv / ${split}.jsonl / data/${split}-*.parquet ` +
      `(columns query-id, corpus-id, score; or qid, pid, score).`,
  );
}

export async function loadRetrievalData(task: TaskMetadata, source: TaskSource, split: string, subset: string): Promise<RetrievalData> {
  const dir = subsetDir(source, subset);
  const corpusFiles = roleFiles(source, dir, 'corpus');
  const queryFiles = roleFiles(source, dir, 'queries');
  const qrelFiles = qrelsFiles(source, dir, split, new Set([...corpusFiles, ...queryFiles]));
  const stripped = task.retrieval?.corpusText === 'stripped';

  const qrels: Qrels = new Map();
  for (const r of await readAll(qrelFiles, source)) {
    const qid = asString(pick(source, r, 'query-id', F.qrelQuery), r, 'query-id');
    const did = asString(pick(source, r, 'corpus-id', F.qrelDoc), r, 'corpus-id');
    const score = Math.trunc(asNumber(pick(source, r, 'score', F.qrelScore), r, 'score'));
    (qrels.get(qid) ?? qrels.set(qid, new Map()).get(qid)!).set(did, score);
  }
  if (qrels.size === 0) throw new TaskDataError(`Retrieval: ${qrelFiles.join(', ')} hold no judgements`);

  const corpus = new Map<string, string>();
  for (const r of await readAll(corpusFiles, source)) {
    const id = asString(pick(source, r, 'id', F.docId), r, '_id');
    const text = asString(pick(source, r, 'text', F.docText), r, 'text');
    const t = pick(source, r, 'title', F.title, true);
    const title = t === undefined || t === null ? undefined : asString(t, r, 'title');
    corpus.set(id, stripped ? pythonStrip(title !== undefined ? `${title} ${text}` : text) : `${title ?? ''} ${text}`);
  }
  const queries = new Map<string, string>();
  for (const r of await readAll(queryFiles, source)) {
    const id = asString(pick(source, r, 'id', F.queryId), r, '_id');
    if (!qrels.has(id)) continue; // queries without judgements are dropped at load time
    queries.set(id, asString(pick(source, r, 'text', F.queryText), r, 'text'));
  }
  return {
    corpus: { ids: [...corpus.keys()], texts: [...corpus.values()] },
    queries: { ids: [...queries.keys()], texts: [...queries.values()] },
    qrels,
  };
}
