// What the server reads from a model folder itself, beside what the Embedder exposes:
// sentence-transformers prompts (config_sentence_transformers.json) and the vocabulary size
// (config.json of the transformer module), used to check token-id inputs before they reach the model.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ModelMetadata {
  /** sentence-transformers `prompts`; empty when the model has none. */
  prompts: Record<string, string>;
  /** sentence-transformers `default_prompt_name`, when set. */
  defaultPromptName?: string;
  /** config.json `vocab_size`, when present. */
  vocabSize?: number;
}

async function readJsonIfPresent(file: string, allowArray = false): Promise<Record<string, unknown> | unknown[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (allowArray && Array.isArray(value)) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

export async function readModelMetadata(dir: string): Promise<ModelMetadata> {
  const meta: ModelMetadata = { prompts: {} };
  const stFile = join(dir, 'config_sentence_transformers.json');
  const st = (await readJsonIfPresent(stFile)) as Record<string, unknown> | undefined;
  if (st) {
    const prompts = st.prompts;
    if (prompts !== undefined && prompts !== null) {
      if (typeof prompts !== 'object' || Array.isArray(prompts)) throw new Error(`${stFile}: field "prompts" must be an object of strings`);
      for (const [name, text] of Object.entries(prompts)) {
        if (typeof text !== 'string') throw new Error(`${stFile}: field "prompts.${name}" must be a string, got ${JSON.stringify(text)}`);
        meta.prompts[name] = text;
      }
    }
    const def = st.default_prompt_name;
    if (def !== undefined && def !== null) {
      if (typeof def !== 'string') throw new Error(`${stFile}: field "default_prompt_name" must be a string or null`);
      if (!Object.hasOwn(meta.prompts, def)) throw new Error(`${stFile}: field "default_prompt_name" is "${def}", which is not a key of "prompts"`);
      meta.defaultPromptName = def;
    }
  }
  // The transformer's config.json is in the folder modules.json names for it (usually the top folder).
  const modulesFile = join(dir, 'modules.json');
  const modules = await readJsonIfPresent(modulesFile, true);
  let transformerDir = dir;
  if (Array.isArray(modules) && modules.length > 0) {
    const path = (modules[0] as { path?: unknown } | null)?.path;
    if (typeof path === 'string' && path !== '' && !path.includes('..') && !path.startsWith('/')) transformerDir = join(dir, path);
  }
  const cfgFile = join(transformerDir, 'config.json');
  const cfg = (await readJsonIfPresent(cfgFile)) as Record<string, unknown> | undefined;
  if (cfg && cfg.vocab_size !== undefined) {
    const v = cfg.vocab_size;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${cfgFile}: field "vocab_size" must be a positive integer`);
    meta.vocabSize = v;
  }
  return meta;
}
