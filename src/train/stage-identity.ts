// What a training stage's updates depend on, for the resume check: a checkpoint is only continued under
// the same model, seed, stage settings and data. Files are identified by their content, never by their
// path, so an output folder that holds its own data and starting model (as a pipeline run folder does)
// can be moved or copied and still resumed; a changed setting, data file or model is refused.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ModelSpec, StageConfig, TrainConfig } from './config.js';

const IDENTITY_VERSION = 2;

/** Files larger than this are identified by their size and the sha256 of their first and last MiB. */
export const FULL_HASH_LIMIT_BYTES = 256 * 1024 * 1024;
const SAMPLE_BYTES = 1024 * 1024;

async function hashWhole(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function hashEnds(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    for (const at of [0, size - SAMPLE_BYTES]) {
      const buf = Buffer.alloc(SAMPLE_BYTES);
      const { bytesRead } = await fh.read(buf, 0, SAMPLE_BYTES, at);
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return `ends:${h.digest('hex')}`;
}

/** A file's identity: size and sha256 (of its two ends for very large files; no modification time). */
async function fileContent(path: string, size: number): Promise<string> {
  return `${size}:${size > FULL_HASH_LIMIT_BYTES ? await hashEnds(path, size) : await hashWhole(path)}`;
}

/**
 * Content identity of a file or folder: for a folder, its files (hidden entries such as `.git` or
 * `.cache` skipped) with their paths relative to it. Null when the path does not exist.
 */
export async function contentIdentity(path: string): Promise<unknown> {
  let st;
  try {
    st = await stat(path);
  } catch {
    return null;
  }
  if (st.isFile()) return fileContent(path, st.size);
  const files: [string, string][] = [];
  const walk = async (dir: string) => {
    for (const name of (await readdir(dir)).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else if (s.isFile()) files.push([relative(path, p).split(sep).join('/'), await fileContent(p, s.size)]);
    }
  };
  await walk(path);
  return files;
}

async function modelIdentity(model: ModelSpec): Promise<unknown> {
  const { path, init, ...rest } = model;
  return {
    ...rest,
    ...(path !== undefined ? { checkpoint: await contentIdentity(path) } : {}),
    ...(init
      ? {
          init: {
            seed: init.seed,
            config: typeof init.config === 'string' ? { file: await contentIdentity(init.config) } : init.config,
            tokenizer: await contentIdentity(init.tokenizer),
          },
        }
      : {}),
  };
}

/**
 * Hash of what decides a stage's updates — model, seed, stage settings (not checkpoint or evaluation
 * cadence) and the data, files by content — to refuse resuming under a changed config. Paths are not
 * part of it.
 */
export async function stageIdentity(config: TrainConfig, stage: StageConfig): Promise<string> {
  const { eval: _e, checkpointEvery: _c, data, ...rest } = stage;
  const sources = [];
  for (const { path, ...fields } of data) sources.push({ ...fields, content: await contentIdentity(path) });
  const value = { version: IDENTITY_VERSION, model: await modelIdentity(config.model), seed: config.seed, stage: { ...rest, data: sources } };
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
