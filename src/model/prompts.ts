// Which prompt prefix a text gets: an explicit instruction, the task's instruction from QZhou's table (queries
// always; documents only for tasks that put it on both sides), or the checkpoint's sentence-transformers
// prompts (by task name, then by kind, then the default prompt).
import type { EmbedRequest } from './embedder.js';
import { formatPrompt, instructionForSide, taskInstruction, QZHOU_PROMPT_TEMPLATE } from './instructions.js';

export interface PromptSettings {
  /** Template that wraps an instruction; `{instruction}` is replaced. */
  template: string;
  /** Whether task names are looked up in the QZhou instruction table (instruction-tuned decoders). */
  instructionTable: boolean;
  /** sentence-transformers `prompts` of the checkpoint. */
  prompts: Readonly<Record<string, string>>;
  defaultPromptName: string | undefined;
}

export const DEFAULT_PROMPT_SETTINGS: PromptSettings = {
  template: QZHOU_PROMPT_TEMPLATE, instructionTable: true, prompts: {}, defaultPromptName: undefined,
};

/** The names mteb and sentence-transformers use for the document side. */
const DOCUMENT_KEYS = ['document', 'passage', 'corpus'];

function kindPrompt(s: PromptSettings, kind: 'query' | 'document'): string | undefined {
  const keys = kind === 'query' ? ['query'] : DOCUMENT_KEYS;
  for (const k of keys) if (Object.hasOwn(s.prompts, k)) return s.prompts[k];
  return undefined;
}

/**
 * The prefix for the texts of one request:
 * 1. `instruction` → the template around it, on every text of the call;
 * 2. `task` → sentence-transformers prompts named `<task>-<kind>` or `<task>` if the checkpoint has them;
 *    else the instruction table (when enabled) for that side; else the prompt for the kind;
 * 3. only `kind` → the checkpoint's prompt for that kind, if any;
 * 4. nothing → the checkpoint's default prompt, if it names one.
 */
export function resolvePrompt(req: EmbedRequest | undefined, s: PromptSettings): string {
  if (req?.instruction !== undefined) return formatPrompt(req.instruction, s.template);
  if (req?.task !== undefined) {
    const kind = req.kind ?? 'query';
    const side = kind === 'query' ? 'query' : 'document';
    for (const key of [`${req.task}-${side}`, ...(side === 'document' ? [`${req.task}-passage`] : []), req.task]) {
      if (Object.hasOwn(s.prompts, key)) return s.prompts[key]!;
    }
    if (s.instructionTable && taskInstruction(req.task)) return formatPrompt(instructionForSide(req.task, kind), s.template);
    return kindPrompt(s, kind) ?? '';
  }
  if (req?.kind !== undefined) return kindPrompt(s, req.kind) ?? '';
  return s.defaultPromptName ? s.prompts[s.defaultPromptName] ?? '' : '';
}

/**
 * What replaces an empty text: "Null" for decoders, as QZhou's embedder.py does (an empty Qwen input would
 * have no token to pool); encoders keep "" ([CLS] [SEP]), as sentence-transformers. Inference and training
 * share this rule.
 */
export function defaultEmptyText(family: 'decoder' | 'encoder'): string | null {
  return family === 'decoder' ? 'Null' : null;
}
