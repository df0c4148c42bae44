// sentence-transformers metadata of a checkpoint folder: modules.json (the module pipeline),
// <n>_Pooling/config.json (pooling mode, include_prompt), config_sentence_transformers.json (prompts,
// default_prompt_name), sentence_bert_config.json (max_seq_length, do_lower_case), Dense and Normalize modules.
import { join } from 'node:path';
import { CheckpointError } from './errors.js';
import { readJson } from './config.js';

export type PoolingMode = 'mean' | 'cls' | 'lasttoken' | 'max' | 'mean_sqrt_len' | 'weightedmean';

export const POOLING_MODES: readonly PoolingMode[] = ['mean', 'cls', 'lasttoken', 'max', 'mean_sqrt_len', 'weightedmean'];

/** A Dense module after pooling: y = act(W x + b), weights in `<path>/model.safetensors` (`linear.weight`, `linear.bias`). */
export interface DenseModule {
  path: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  activation: 'identity' | 'tanh';
}

export interface SentenceTransformersConfig {
  /** Folder of the Transformer module relative to the checkpoint ('' = the checkpoint itself). */
  transformerPath: string;
  pooling: PoolingMode | undefined;
  /** Whether prompt tokens take part in pooling (false: instructor-style, prompt excluded). */
  includePrompt: boolean;
  /** Width the Pooling module declares (word_embedding_dimension). */
  poolingDimension: number | undefined;
  dense: DenseModule[];
  normalize: boolean;
  maxSeqLength: number | undefined;
  doLowerCase: boolean;
  prompts: Record<string, string>;
  defaultPromptName: string | undefined;
  similarityFnName: string | undefined;
  /** The raw JSON of each file that was present, kept for saving back. */
  files: Record<string, unknown>;
}

const moduleKind = (type: unknown): string => (typeof type === 'string' ? type.split('.').pop() ?? '' : '');

const POOLING_FLAGS: [string, PoolingMode][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];

function parsePooling(json: unknown, file: string): { mode: PoolingMode; includePrompt: boolean; dim: number | undefined } {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new CheckpointError(file, undefined, 'is not a JSON object');
  const c = json as Record<string, unknown>;
  let mode: PoolingMode | undefined;
  if (typeof c.pooling_mode === 'string') {
    const m = c.pooling_mode === 'mean_tokens' ? 'mean' : c.pooling_mode === 'cls_token' ? 'cls' : c.pooling_mode;
    if (!POOLING_MODES.includes(m as PoolingMode)) throw new CheckpointError(file, 'pooling_mode', `${JSON.stringify(c.pooling_mode)} is not supported (supported: ${POOLING_MODES.join(', ')})`);
    mode = m as PoolingMode;
  } else {
    const on = POOLING_FLAGS.filter(([k]) => c[k] === true);
    if (on.length === 0) throw new CheckpointError(file, 'pooling_mode_*', 'no pooling mode is enabled');
    if (on.length > 1) {
      throw new CheckpointError(file, on.map(([k]) => k).join(', '), 'several pooling modes at once (concatenated outputs) are not supported');
    }
    mode = on[0]![1];
  }
  const ip = c.include_prompt;
  if (ip !== undefined && typeof ip !== 'boolean') throw new CheckpointError(file, 'include_prompt', `must be true or false, got ${JSON.stringify(ip)}`);
  const dim = c.word_embedding_dimension;
  return { mode, includePrompt: ip ?? true, dim: typeof dim === 'number' ? dim : undefined };
}

function parseDense(json: unknown, file: string, path: string): DenseModule {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new CheckpointError(file, undefined, 'is not a JSON object');
  const c = json as Record<string, unknown>;
  const int = (k: string) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new CheckpointError(file, k, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = String(c.activation_function ?? 'torch.nn.modules.activation.Tanh');
  const kind = act.split('.').pop();
  if (kind !== 'Identity' && kind !== 'Tanh') throw new CheckpointError(file, 'activation_function', `${JSON.stringify(act)} is not supported (Identity, Tanh)`);
  return { path, inFeatures: int('in_features'), outFeatures: int('out_features'), bias: c.bias !== false, activation: kind === 'Tanh' ? 'tanh' : 'identity' };
}

function stringMap(json: unknown, file: string, field: string): Record<string, string> {
  if (json === undefined || json === null) return {};
  if (typeof json !== 'object' || Array.isArray(json)) throw new CheckpointError(file, field, 'must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new CheckpointError(file, `${field}.${k}`, `must be a string, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

/** Reads the sentence-transformers files of a checkpoint; `undefined` when it has none of them. */
export async function loadSentenceTransformersConfig(dir: string): Promise<SentenceTransformersConfig | undefined> {
  const files: Record<string, unknown> = {};
  const modulesFile = join(dir, 'modules.json');
  const modules = await readJson(modulesFile, true);
  const stFile = join(dir, 'config_sentence_transformers.json');
  const st = await readJson(stFile, true);
  let transformerPath = '';
  let pooling: ReturnType<typeof parsePooling> | undefined;
  const dense: DenseModule[] = [];
  let normalize = false;
  if (modules !== undefined) {
    files['modules.json'] = modules;
    if (!Array.isArray(modules)) throw new CheckpointError(modulesFile, undefined, 'must be a JSON array of modules');
    for (let i = 0; i < modules.length; i++) {
      const m = modules[i] as Record<string, unknown> | null;
      if (!m || typeof m !== 'object') throw new CheckpointError(modulesFile, `[${i}]`, 'must be an object');
      const kind = moduleKind(m.type);
      const path = typeof m.path === 'string' ? m.path : '';
      if (path.includes('..') || path.startsWith('/')) throw new CheckpointError(modulesFile, `[${i}].path`, `must stay inside the checkpoint folder, got ${JSON.stringify(m.path)}`);
      switch (kind) {
        case 'Transformer':
          if (i !== 0) throw new CheckpointError(modulesFile, `[${i}].type`, 'the Transformer module must come first');
          transformerPath = path;
          break;
        case 'Pooling': {
          const file = join(dir, path, 'config.json');
          const json = await readJson(file);
          files[`${path}/config.json`] = json;
          pooling = parsePooling(json, file);
          break;
        }
        case 'Dense': {
          const file = join(dir, path, 'config.json');
          const json = await readJson(file);
          files[`${path}/config.json`] = json;
          dense.push(parseDense(json, file, path));
          break;
        }
        case 'Normalize':
          normalize = true;
          break;
        default:
          throw new CheckpointError(modulesFile, `[${i}].type`, `module ${JSON.stringify(m.type)} is not supported (Transformer, Pooling, Dense, Normalize)`);
      }
    }
  }
  const sbFile = join(dir, transformerPath, 'sentence_bert_config.json');
  const sb = await readJson(sbFile, true);
  if (modules === undefined && st === undefined && sb === undefined) return undefined;
  let maxSeqLength: number | undefined;
  let doLowerCase = false;
  if (sb !== undefined) {
    files[join(transformerPath, 'sentence_bert_config.json')] = sb;
    const c = sb as Record<string, unknown>;
    if (c.max_seq_length !== undefined && c.max_seq_length !== null) {
      if (typeof c.max_seq_length !== 'number' || !Number.isSafeInteger(c.max_seq_length) || c.max_seq_length < 1) {
        throw new CheckpointError(sbFile, 'max_seq_length', `must be a positive integer, got ${JSON.stringify(c.max_seq_length)}`);
      }
      maxSeqLength = c.max_seq_length;
    }
    doLowerCase = c.do_lower_case === true;
  }
  let prompts: Record<string, string> = {};
  let defaultPromptName: string | undefined;
  let similarityFnName: string | undefined;
  if (st !== undefined) {
    files['config_sentence_transformers.json'] = st;
    if (!st || typeof st !== 'object' || Array.isArray(st)) throw new CheckpointError(stFile, undefined, 'is not a JSON object');
    const c = st as Record<string, unknown>;
    prompts = stringMap(c.prompts, stFile, 'prompts');
    if (typeof c.default_prompt_name === 'string') {
      if (!Object.hasOwn(prompts, c.default_prompt_name)) throw new CheckpointError(stFile, 'default_prompt_name', `${JSON.stringify(c.default_prompt_name)} is not a key of prompts`);
      defaultPromptName = c.default_prompt_name;
    }
    if (typeof c.similarity_fn_name === 'string') similarityFnName = c.similarity_fn_name;
  }
  return {
    transformerPath, pooling: pooling?.mode, includePrompt: pooling?.includePrompt ?? true, poolingDimension: pooling?.dim,
    dense, normalize, maxSeqLength, doLowerCase, prompts, defaultPromptName, similarityFnName, files,
  };
}
