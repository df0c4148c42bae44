// Source shapes → canonical records (recipe §2). Each transformation reads named roles from a source
// record; a role's column defaults to the first present of a few usual names and can be remapped
// (`--map role=column`, dotted paths reach nested fields). Source fields no role consumed are kept as
// provenance unless they would shadow a canonical field.
import { DataError, preview } from './errors.js';
import { CANONICAL_FIELDS, hasText, validateRecord, type CanonicalRecord, type ClsRecord, type PairRecord, type RetrievalRecord } from './records.js';
import type { SourceRecord } from './readers.js';

export type TransformType =
  | 'title-body'
  | 'title-abstract'
  | 'qa'
  | 'dialogue'
  | 'reading-comprehension'
  | 'claim-evidence'
  | 'triples'
  | 'nli'
  | 'sts'
  | 'binary'
  | 'cls'
  | 'canonical';

/** The Chinese reading-comprehension connector (recipe §2): newline + 请阅读上述文章，回答下列问题： (U+FF0C, U+FF1A). */
export const RC_CONNECTOR_ZH = '\n请阅读上述文章\uff0c回答下列问题\uff1a';

/**
 * NLI label → score (entailment 2, neutral 1, contradiction 0). Names are matched case-insensitively.
 * Integer labels follow the SNLI/MNLI/XNLI convention of Hugging Face datasets (0 = entailment,
 * 1 = neutral, 2 = contradiction); -1 and "-" mean "no gold label" and the row is skipped.
 */
export const NLI_LABELS: Readonly<Record<string, number>> = {
  entailment: 2,
  neutral: 1,
  contradiction: 0,
  '0': 2,
  '1': 1,
  '2': 0,
};
const NO_GOLD = new Set(['-1', '-']);

/** Binary pair labels → 1/0 (case-insensitive). */
export const BINARY_LABELS: Readonly<Record<string, number>> = {
  true: 1,
  false: 0,
  yes: 1,
  no: 0,
  y: 1,
  n: 0,
  t: 1,
  f: 0,
  '1': 1,
  '0': 0,
  是: 1,
  否: 0,
};

interface RoleSpec {
  /** Candidate source columns, first present wins. */
  columns: string[];
  required: boolean;
}

interface TransformSpec {
  family: 'retrieval' | 'pair' | 'cls' | 'any';
  summary: string;
  roles: Record<string, RoleSpec>;
}

const req = (...columns: string[]): RoleSpec => ({ columns, required: true });
const opt = (...columns: string[]): RoleSpec => ({ columns, required: false });

/** Every transformation, its roles and their default columns (for help texts and docs). */
export const TRANSFORMS: Readonly<Record<TransformType, TransformSpec>> = {
  'title-body': { family: 'retrieval', summary: 'query = title, pos = body (news, web pages)', roles: { title: req('title'), body: req('body', 'content', 'text'), neg: opt('neg') } },
  'title-abstract': { family: 'retrieval', summary: 'query = title, pos = abstract (papers)', roles: { title: req('title'), abstract: req('abstract'), neg: opt('neg') } },
  qa: { family: 'retrieval', summary: 'query = question (user), pos = answer(s)', roles: { question: req('question', 'query', 'user'), answer: req('answer', 'answers', 'response', 'assistant'), neg: opt('neg') } },
  dialogue: {
    family: 'retrieval',
    summary: 'one record per user turn followed by an assistant turn (messages [{role, content}] or ShareGPT [{from, value}])',
    roles: { messages: req('messages', 'conversations', 'conversation', 'dialogue') },
  },
  'reading-comprehension': {
    family: 'retrieval',
    summary: 'query = context + connector + question, pos = answer(s) (SQuAD-style answers.text accepted)',
    roles: { context: req('context', 'passage'), question: req('question'), answer: req('answer', 'answers'), neg: opt('neg') },
  },
  'claim-evidence': { family: 'retrieval', summary: 'query = claim, pos = evidence(s)', roles: { claim: req('claim'), evidence: req('evidence', 'evidences'), neg: opt('neg') } },
  triples: {
    family: 'retrieval',
    summary: 'MS MARCO-style (query, positive(s), negative(s)) kept as given',
    roles: { query: req('query', 'anchor', 'question'), pos: req('pos', 'positive', 'positives', 'pos_text'), neg: opt('neg', 'negative', 'negatives', 'neg_text') },
  },
  nli: {
    family: 'pair',
    summary: 'premise/hypothesis with entailment 2 / neutral 1 / contradiction 0, both orders',
    roles: { text1: req('sentence1', 'premise', 'text1'), text2: req('sentence2', 'hypothesis', 'text2'), label: req('label', 'gold_label') },
  },
  sts: {
    family: 'pair',
    summary: 'scored pair, score used as given, both orders',
    roles: { text1: req('sentence1', 'text1', 's1'), text2: req('sentence2', 'text2', 's2'), score: req('score', 'similarity_score', 'label') },
  },
  binary: {
    family: 'pair',
    summary: 'yes/no or true/false (or 1/0) pair → score 1/0, both orders',
    roles: { text1: req('sentence1', 'text1', 'question1', 's1'), text2: req('sentence2', 'text2', 'question2', 's2'), label: req('label', 'is_duplicate', 'score') },
  },
  cls: { family: 'cls', summary: 'text with a class label (expanded into triples at batch time)', roles: { text: req('text', 'sentence'), label: req('label') } },
  canonical: { family: 'any', summary: 'already canonical records: validate and filter only', roles: {} },
};

const COMMON_ROLES: Record<string, RoleSpec> = { dataset: opt('dataset'), instruction: opt('instruction') };

export interface TransformConfig {
  type: TransformType;
  /** role → source column (dotted path for nested fields). */
  map?: Record<string, string>;
  /** Sets `dataset` on every record (overrides a dataset column). */
  dataset?: string;
  /** Sets `instruction` on every record (overrides an instruction column). */
  instruction?: string;
  /** Reading comprehension: text between context and question (default RC_CONNECTOR_ZH). */
  connector?: string;
  /** NLI or binary: label → score, replacing the default table (keys compared case-insensitively). */
  labelMap?: Record<string, number>;
  /** Pairs: also emit (text2, text1, score) (default true, as the recipe does). */
  bothOrders?: boolean;
  /** Keep source fields no role consumed (default true). */
  provenance?: boolean;
}

export type RecordTransform = (src: SourceRecord) => CanonicalRecord[];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lookup(rec: Record<string, unknown>, column: string): unknown {
  if (column in rec) return rec[column];
  if (!column.includes('.')) return undefined;
  let cur: unknown = rec;
  for (const part of column.split('.')) {
    if (Array.isArray(cur) && /^\d+$/.test(part)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

/** Parses "a=b,c=d" / repeated "a=b" flags into a map, with a clear error on a bad item. */
export function parseAssignments(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    for (const part of item.split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      if (eq <= 0 || eq === part.length - 1) throw new Error(`${what}: expected name=value, got "${part}"`);
      out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
  }
  return out;
}

/** Builds the function that turns one source record into canonical records (throws DataError on a bad record). */
export function createTransform(config: TransformConfig): RecordTransform {
  const spec = TRANSFORMS[config.type];
  if (!spec) throw new Error(`unknown transformation "${config.type}" (${Object.keys(TRANSFORMS).join(', ')})`);
  const roles: Record<string, RoleSpec> = { ...spec.roles, ...COMMON_ROLES };
  const map = config.map ?? {};
  for (const role of Object.keys(map)) {
    if (!(role in roles)) {
      throw new Error(`--map ${role}=…: "${config.type}" has no role "${role}" (roles: ${Object.keys(roles).join(', ')})`);
    }
  }
  const bothOrders = config.bothOrders ?? true;
  const keepProvenance = config.provenance ?? true;
  const connector = config.connector ?? RC_CONNECTOR_ZH;
  const labelMap = config.labelMap ? lowerKeys(config.labelMap) : undefined;

  return (src) => {
    const rec = src.record;
    const used = new Set<string>();
    /** The column a role reads, or undefined when absent (error if required). */
    const columnOf = (role: string): string | undefined => {
      const mapped = map[role];
      const candidates = mapped ? [mapped] : roles[role]!.columns;
      for (const c of candidates) {
        const v = lookup(rec, c);
        if (v !== undefined && v !== null) {
          used.add(c.split('.')[0]!);
          return c;
        }
      }
      if (roles[role]!.required) {
        const names = candidates.length === 1 ? candidates[0]! : `${candidates[0]} (or ${candidates.slice(1).join(', ')})`;
        throw new DataError(src.file, src.line, names, 'missing', 'missing-field');
      }
      return undefined;
    };
    const textOf = (role: string): string => {
      const c = columnOf(role)!;
      return asText(lookup(rec, c), c, src);
    };
    const listOf = (role: string): string[] => {
      const c = columnOf(role);
      if (c === undefined) return [];
      return asTextList(lookup(rec, c), c, src, roles[role]!.required);
    };

    let out: CanonicalRecord[];
    switch (config.type) {
      case 'canonical':
        out = [validateRecord({ ...rec }, src.file, src.line)];
        for (const k of Object.keys(rec)) used.add(k);
        break;
      case 'title-body':
        out = [retrieval(textOf('title'), listOf('body'), listOf('neg'))];
        break;
      case 'title-abstract':
        out = [retrieval(textOf('title'), listOf('abstract'), listOf('neg'))];
        break;
      case 'qa':
        out = [retrieval(textOf('question'), listOf('answer'), listOf('neg'))];
        break;
      case 'claim-evidence':
        out = [retrieval(textOf('claim'), listOf('evidence'), listOf('neg'))];
        break;
      case 'triples':
        out = [retrieval(textOf('query'), listOf('pos'), listOf('neg'))];
        break;
      case 'reading-comprehension':
        out = [retrieval(textOf('context') + connector + textOf('question'), listOf('answer'), listOf('neg'))];
        break;
      case 'dialogue': {
        const c = columnOf('messages')!;
        out = dialoguePairs(lookup(rec, c), c, src).map(([q, a]) => retrieval(q, [a], []));
        break;
      }
      case 'nli':
      case 'binary': {
        const c = columnOf('label')!;
        const score = labelScore(lookup(rec, c), c, src, config.type, labelMap);
        out = pairs(textOf('text1'), textOf('text2'), score, bothOrders);
        break;
      }
      case 'sts': {
        const c = columnOf('score')!;
        out = pairs(textOf('text1'), textOf('text2'), parseScore(lookup(rec, c), c, src), bothOrders);
        break;
      }
      case 'cls': {
        const c = columnOf('label')!;
        const record: ClsRecord = { type: 'cls', text: textOf('text'), label: labelText(lookup(rec, c), c, src) };
        out = [record];
        break;
      }
    }

    // Dataset and instruction: the flag wins over a column.
    const dsCol = config.dataset === undefined ? columnOf('dataset') : undefined;
    const insCol = config.instruction === undefined ? columnOf('instruction') : undefined;
    const dataset = config.dataset ?? (dsCol ? stringField(lookup(rec, dsCol), dsCol, src) : undefined);
    const instruction = config.instruction ?? (insCol ? stringField(lookup(rec, insCol), insCol, src) : undefined);
    for (const r of out) {
      if (dataset !== undefined) r.dataset = dataset;
      if (instruction !== undefined) r.instruction = instruction;
      if (keepProvenance && config.type !== 'canonical') {
        for (const [k, v] of Object.entries(rec)) {
          if (!used.has(k) && !CANONICAL_FIELDS.has(k) && v !== undefined) r[k] = v;
        }
      }
    }
    return out;
  };
}

function lowerKeys(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    if (!Number.isFinite(v)) throw new Error(`label map: score for "${k}" is not a number`);
    out[k.toLowerCase()] = v;
  }
  return out;
}

function retrieval(query: string, pos: string[], neg: string[]): RetrievalRecord {
  return { type: 'retrieval', query, pos, neg };
}

function pairs(text1: string, text2: string, score: number, bothOrders: boolean): PairRecord[] {
  const a: PairRecord = { type: 'pair', text1, text2, score };
  return bothOrders ? [a, { type: 'pair', text1: text2, text2: text1, score }] : [a];
}

function asText(v: unknown, column: string, src: SourceRecord): string {
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string') throw new DataError(src.file, src.line, column, `expected text, got ${preview(v)}`, 'wrong-type');
  if (!hasText(v)) throw new DataError(src.file, src.line, column, 'empty text', 'empty-text');
  return v;
}

/** A string or a list of strings; blank items are dropped; a required list must keep one. */
function asTextList(v: unknown, column: string, src: SourceRecord, required: boolean): string[] {
  // SQuAD-style {"text": [...], "answer_start": [...]}.
  if (isObject(v) && 'text' in v) v = v.text;
  const items = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  const seen = new Set<string>();
  items.forEach((s, i) => {
    if (typeof s === 'number' && Number.isFinite(s)) s = String(s);
    if (typeof s !== 'string') {
      throw new DataError(src.file, src.line, Array.isArray(v) ? `${column}[${i}]` : column, `expected text, got ${preview(s)}`, 'wrong-type');
    }
    if (hasText(s) && !seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  });
  if (required && out.length === 0) throw new DataError(src.file, src.line, column, 'empty text', 'empty-text');
  return out;
}

function stringField(v: unknown, column: string, src: SourceRecord): string {
  if (typeof v !== 'string') throw new DataError(src.file, src.line, column, `expected a string, got ${preview(v)}`, 'wrong-type');
  return v;
}

function parseScore(v: unknown, column: string, src: SourceRecord): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v.trim()) : NaN;
  if (!Number.isFinite(n)) throw new DataError(src.file, src.line, column, `expected a number, got ${preview(v)}`, 'bad-score');
  return n;
}

function labelKey(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v.trim().toLowerCase();
  return undefined;
}

function labelScore(v: unknown, column: string, src: SourceRecord, type: 'nli' | 'binary', custom?: Record<string, number>): number {
  const key = labelKey(v);
  if (key === undefined) throw new DataError(src.file, src.line, column, `expected a label, got ${preview(v)}`, 'bad-label');
  const table = custom ?? (type === 'nli' ? NLI_LABELS : BINARY_LABELS);
  const score = table[key];
  if (score !== undefined) return score;
  if (type === 'nli' && !custom && NO_GOLD.has(key)) throw new DataError(src.file, src.line, column, `no gold label (${preview(v)})`, 'no-gold-label');
  const known = Object.keys(table).join(', ');
  throw new DataError(src.file, src.line, column, `unknown label ${preview(v)} (known: ${known}; set a label map)`, 'bad-label');
}

function labelText(v: unknown, column: string, src: SourceRecord): string {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') throw new DataError(src.file, src.line, column, `expected a label, got ${preview(v)}`, 'bad-label');
  const s = v.trim();
  if (s === '') throw new DataError(src.file, src.line, column, 'empty label', 'bad-label');
  return s;
}

const USER_ROLES = new Set(['user', 'human', 'question', 'prompter', 'usr']);
const ASSISTANT_ROLES = new Set(['assistant', 'gpt', 'bot', 'model', 'answer', 'chatgpt', 'ai']);

/** (user turn, following assistant turn) pairs of a conversation. */
function dialoguePairs(v: unknown, column: string, src: SourceRecord): [string, string][] {
  if (!Array.isArray(v)) throw new DataError(src.file, src.line, column, `expected a list of turns, got ${preview(v)}`, 'wrong-type');
  const turns = v.map((t, i) => {
    if (!isObject(t)) throw new DataError(src.file, src.line, `${column}[${i}]`, `expected a turn object, got ${preview(t)}`, 'wrong-type');
    const role = t.role ?? t.from ?? t.speaker;
    const content = t.content ?? t.value ?? t.text;
    if (typeof role !== 'string') throw new DataError(src.file, src.line, `${column}[${i}].role`, `missing (role or from)`, 'missing-field');
    if (typeof content !== 'string') throw new DataError(src.file, src.line, `${column}[${i}].content`, `expected text, got ${preview(content)}`, 'wrong-type');
    return { role: role.toLowerCase(), content };
  });
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < turns.length; i++) {
    const a = turns[i]!;
    const b = turns[i + 1]!;
    if (USER_ROLES.has(a.role) && ASSISTANT_ROLES.has(b.role) && hasText(a.content) && hasText(b.content)) out.push([a.content, b.content]);
  }
  if (out.length === 0) throw new DataError(src.file, src.line, column, 'no user turn followed by an assistant turn', 'no-pairs');
  return out;
}
