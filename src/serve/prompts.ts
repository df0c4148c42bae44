// Which prompt a request's texts get, and which texts may share one embed() call. In order:
//  1. `instruction`: an explicit instruction, in the model's prompt template, on every text;
//  2. `prompt_name` that is a key of the model's sentence-transformers `prompts`: the prompt text is put
//     verbatim in front of each text (what sentence-transformers and TEI do);
//  3. `prompt_name` that is a QZhou task name (src/model/instructions.ts): passed to the model as
//     {task, kind} with kind = `input_type` (default query), so the vectors are exactly what
//     embed(texts, {task, kind}) gives (queries get the task's instruction; documents only for
//     tasks that put it on both sides);
//  4. only `input_type`: the model's prompt for that side (query; document/passage/corpus), if it has one;
//  5. the server's default prompt name (as 2 or 3), else no prompt.
// Texts the server prefixes itself are sent with `instruction: ''`, which the Embedder contract reads as
// "no prefix" (formatPrompt of an empty instruction), so the model adds no default prompt of its own.
import type { EmbedRequest, TextKind } from '../model/embedder.js';
import { CMTEB_INSTRUCTIONS, MTEB_ENG_V2_INSTRUCTIONS, taskInstruction } from '../model/instructions.js';
import { invalidField } from './errors.js';

export interface PromptCatalog {
  /** sentence-transformers `prompts` (name → text put before each input). */
  readonly prompts: Readonly<Record<string, string>>;
  /** Used when a request names neither a prompt nor an instruction. */
  readonly defaultPromptName?: string;
}

export interface PromptFields {
  promptName?: string | null;
  instruction?: string | null;
  inputType?: TextKind | null;
}

export interface ResolvedPrompt {
  /** Inputs with equal keys can share an embed() call. */
  key: string;
  /** Text put verbatim in front of each input (sentence-transformers prompts). */
  prefix: string;
  /** What embed() is called with. */
  request: EmbedRequest;
  /** The request field that chose the prompt; undefined for the server default or none. */
  field?: 'prompt_name' | 'instruction' | 'input_type';
}

/** Empty instruction: the model puts nothing in front (and applies no default prompt). */
const NO_MODEL_PROMPT: EmbedRequest = { instruction: '' };

function verbatim(prefix: string, field: ResolvedPrompt['field']): ResolvedPrompt {
  return { key: '', prefix, request: NO_MODEL_PROMPT, field };
}

/** The sentence-transformers prompt names mteb and sentence-transformers use for each side. */
const SIDE_PROMPT_NAMES: Record<TextKind, readonly string[]> = { query: ['query'], document: ['document', 'passage', 'corpus'] };

function byName(name: string, kind: TextKind, catalog: PromptCatalog, field: ResolvedPrompt['field']): ResolvedPrompt | undefined {
  if (Object.hasOwn(catalog.prompts, name)) return verbatim(catalog.prompts[name]!, field);
  if (taskInstruction(name)) return { key: `task\u0000${name}\u0000${kind}`, prefix: '', request: { task: name, kind }, field };
  return undefined;
}

/** Names a client may pass as `prompt_name` besides task names, for error messages and /info. */
export function promptNames(catalog: PromptCatalog): string[] {
  return Object.keys(catalog.prompts);
}

/** Throws a 400 naming the field when the prompt cannot be resolved. */
export function resolvePrompt(fields: PromptFields, catalog: PromptCatalog): ResolvedPrompt {
  const { promptName, instruction } = fields;
  const kind = fields.inputType ?? 'query';
  if (promptName != null && instruction != null) {
    throw invalidField('prompt_name', 'give either prompt_name or instruction, not both');
  }
  if (instruction != null) {
    return { key: instruction ? `instruction\u0000${instruction}` : '', prefix: '', request: { instruction }, field: 'instruction' };
  }
  if (promptName != null) {
    const r = byName(promptName, kind, catalog, 'prompt_name');
    if (r) return r;
    const own = promptNames(catalog);
    const known = own.length > 0 ? `the model's prompts (${own.map((n) => JSON.stringify(n)).join(', ')}) or ` : '';
    throw invalidField(
      'prompt_name',
      `unknown prompt "${promptName}": expected ${known}a QZhou task name such as "Banking77Classification" (${MTEB_ENG_V2_INSTRUCTIONS.size + CMTEB_INSTRUCTIONS.size} known)`,
    );
  }
  if (fields.inputType != null) {
    const side = SIDE_PROMPT_NAMES[fields.inputType].find((n) => Object.hasOwn(catalog.prompts, n));
    if (side !== undefined) return verbatim(catalog.prompts[side]!, 'input_type');
  }
  if (catalog.defaultPromptName != null) {
    const r = byName(catalog.defaultPromptName, kind, catalog, undefined);
    if (r) return r;
  }
  return verbatim('', undefined);
}

/** Checks a server-wide default prompt name at startup. */
export function checkDefaultPrompt(catalog: PromptCatalog): void {
  const name = catalog.defaultPromptName;
  if (name == null) return;
  if (Object.hasOwn(catalog.prompts, name) || taskInstruction(name)) return;
  const own = promptNames(catalog);
  throw new Error(
    `default prompt "${name}" is neither one of the model's prompts (${own.length ? own.join(', ') : 'none'}) nor a QZhou task name`,
  );
}

/** True when the prompt puts anything in front of the text (prefix, instruction or task). */
export function addsPrompt(p: ResolvedPrompt): boolean {
  return p.prefix !== '' || !!p.request.instruction || p.request.task !== undefined;
}
