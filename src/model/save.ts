// Writes a model in Hugging Face layout — config.json, model.safetensors (or shards + index), tokenizer files,
// sentence-transformers metadata (modules.json, 1_Pooling/config.json, config_sentence_transformers.json,
// sentence_bert_config.json) — so that transformers and sentence-transformers load it. The folder appears
// whole or not at all: everything is written to a temporary sibling folder that is then renamed.
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type TensorToWrite, type SafetensorsDtype, writeSafetensorsSharded, DTYPE_BYTES, numel } from './safetensors.js';
import type { SafetensorsCheckpoint } from './safetensors.js';
import type { PoolingMode } from './sentence-transformers.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../graph/dtype.js';
import { replaceDir, tempPathFor } from '../util/atomic-file.js';

export interface SentenceTransformersSave {
  pooling: PoolingMode;
  includePrompt: boolean;
  /** Width of the Transformer output (word_embedding_dimension). */
  dimension: number;
  maxSeqLength?: number;
  doLowerCase?: boolean;
  prompts?: Record<string, string>;
  defaultPromptName?: string;
  similarityFnName?: string;
  /** Adds a Normalize module (the Embedder always normalises; default true). */
  normalize?: boolean;
  /** Module folders to copy after Pooling, e.g. 2_Dense (each with config.json and model.safetensors). */
  denseDirs?: string[];
}

export interface SaveCheckpointOptions {
  /** config.json content. */
  config: Record<string, unknown>;
  tensors: readonly TensorToWrite[];
  /** Folder whose tokenizer files are copied. */
  tokenizerDir?: string;
  tokenizerFiles?: readonly string[];
  /** Other files copied from `tokenizerDir` as they are, e.g. the remote-code modules `auto_map` names (modeling_qzhou.py). */
  extraFiles?: readonly string[];
  sentenceTransformers?: SentenceTransformersSave;
  /** Shard limit in bytes (default 5 GB). */
  maxShardBytes?: number;
  /** Replace an existing non-empty folder (default false: refuse). */
  overwrite?: boolean;
}

const POOLING_FLAG: Record<PoolingMode, string> = {
  cls: 'pooling_mode_cls_token', mean: 'pooling_mode_mean_tokens', max: 'pooling_mode_max_tokens',
  mean_sqrt_len: 'pooling_mode_mean_sqrt_len_tokens', weightedmean: 'pooling_mode_weightedmean_tokens', lasttoken: 'pooling_mode_lasttoken',
};

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

async function isNonEmptyDir(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isDirectory()) return true;
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyDir(join(from, e.name), join(to, e.name));
    else await copyFile(join(from, e.name), join(to, e.name));
  }
}

/** Writes a checkpoint folder atomically (temporary sibling folder + rename). */
export async function saveCheckpoint(outDir: string, opts: SaveCheckpointOptions): Promise<void> {
  if (await isNonEmptyDir(outDir)) {
    if (!opts.overwrite) throw new Error(`${outDir} already exists and is not empty (pass overwrite to replace it)`);
  }
  await mkdir(dirname(outDir), { recursive: true });
  const tmp = tempPathFor(outDir);
  await mkdir(tmp);
  try {
    await writeFile(join(tmp, 'config.json'), json(opts.config));
    await writeSafetensorsSharded(tmp, opts.tensors, { maxShardBytes: opts.maxShardBytes, metadata: { format: 'pt' } });
    if (opts.tokenizerDir) {
      for (const f of [...(opts.tokenizerFiles ?? []), ...(opts.extraFiles ?? [])]) await copyFile(join(opts.tokenizerDir, f), join(tmp, f));
    }
    const st = opts.sentenceTransformers;
    if (st) {
      const modules: Record<string, unknown>[] = [
        { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
        { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      ];
      const pooling: Record<string, unknown> = { word_embedding_dimension: st.dimension };
      for (const [mode, flag] of Object.entries(POOLING_FLAG)) pooling[flag] = mode === st.pooling;
      pooling.include_prompt = st.includePrompt;
      await mkdir(join(tmp, '1_Pooling'));
      await writeFile(join(tmp, '1_Pooling', 'config.json'), json(pooling));
      for (const d of st.denseDirs ?? []) {
        const idx = modules.length;
        const name = `${idx}_Dense`;
        await copyDir(d, join(tmp, name));
        modules.push({ idx, name: String(idx), path: name, type: 'sentence_transformers.models.Dense' });
      }
      if (st.normalize ?? true) {
        const idx = modules.length;
        modules.push({ idx, name: String(idx), path: `${idx}_Normalize`, type: 'sentence_transformers.models.Normalize' });
        await mkdir(join(tmp, `${idx}_Normalize`));
      }
      await writeFile(join(tmp, 'modules.json'), json(modules));
      await writeFile(join(tmp, 'sentence_bert_config.json'), json({ max_seq_length: st.maxSeqLength ?? 512, do_lower_case: st.doLowerCase ?? false }));
      await writeFile(join(tmp, 'config_sentence_transformers.json'), json({
        model_type: 'SentenceTransformer',
        prompts: st.prompts ?? {},
        default_prompt_name: st.defaultPromptName ?? null,
        similarity_fn_name: st.similarityFnName ?? 'cosine',
      }));
    }
    await replaceDir(tmp, outDir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Every tensor of a checkpoint as lazily-read tensors to write, optionally converted to another float dtype
 * (non-float tensors are copied as they are). Names are kept as in the source.
 */
export function checkpointTensors(ckpt: SafetensorsCheckpoint, dtype?: 'F32' | 'F16' | 'BF16'): TensorToWrite[] {
  return ckpt.names().sort().map((name) => {
    const e = ckpt.get(name)!;
    const float = e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16';
    const to: SafetensorsDtype = float && dtype ? dtype : e.dtype;
    return {
      name, dtype: to, shape: e.shape,
      data: async () => {
        const raw = await ckpt.readBytes(name);
        if (to === e.dtype) return raw;
        const n = numel(e.shape);
        const src = e.dtype === 'F32' ? new Float32Array(raw.buffer, raw.byteOffset, n)
          : e.dtype === 'F16' ? f16ToF32(new Uint16Array(raw.buffer, raw.byteOffset, n))
          : bf16ToF32(new Uint16Array(raw.buffer, raw.byteOffset, n));
        return to === 'F32' ? src : to === 'F16' ? f32ToF16(src) : f32ToBf16(src);
      },
    };
  });
}

/** Bytes the tensors take on disk. */
export function tensorsBytes(tensors: readonly TensorToWrite[]): number {
  return tensors.reduce((s, t) => s + numel(t.shape) * DTYPE_BYTES[t.dtype], 0);
}
