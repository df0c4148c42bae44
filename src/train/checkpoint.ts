// Training checkpoints: `<output>/<stage>/checkpoint-<step>/` holding the model in Hugging Face layout
// (written by a callback: the model runtime's saver), the optimizer state and `trainer_state.json`
// (stage, step, data-sampler position, anything else needed to continue identically). A checkpoint is
// assembled in a hidden temporary folder next to its final place and renamed into place, so a folder
// named checkpoint-N is always complete; `--resume` picks the latest one.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { replaceDir, tempPathFor, writeFileAtomic } from '../util/atomic-file.js';
import type { AdamW } from './optimizer.js';

export const TRAINER_STATE_FILE = 'trainer_state.json';
const FORMAT = 'qzhou-trainer-state';
const VERSION = 1;
const NAME_RE = /^checkpoint-(\d+)$/;

export interface TrainerState {
  format: typeof FORMAT;
  version: number;
  /** Stage name and position in the config's stage list. */
  stage: string;
  stageIndex: number;
  /** Updates done in this stage. */
  step: number;
  /** Steps of the stage (a checkpoint with step === stageSteps ends the stage). */
  stageSteps: number;
  /** The batch sampler's serialised position (src/data GroupedBatchSampler.state()). */
  sampler?: unknown;
  /** The stage's identity (stageIdentity: settings, seed, model and data by content), to refuse a resume under a changed config. */
  configHash?: string;
  /** ISO time the checkpoint was written. */
  time: string;
  /** Anything else the trainer wants back (last metrics, RNG states...). */
  extra?: Record<string, unknown>;
}

export interface SaveCheckpointOptions {
  /** Output folder of the run. */
  output: string;
  state: Omit<TrainerState, 'format' | 'version' | 'time'>;
  /** Writes the model (Hugging Face layout) into the given folder. */
  writeModel: (dir: string) => Promise<void>;
  /** Optimizer whose state goes in (optimizer.bin / optimizer.json). */
  optimizer?: AdamW;
  /** Keep only the newest N checkpoints of this stage (older ones are deleted). Default: keep all. */
  keepLast?: number;
}

/** Writes a checkpoint atomically and returns its folder. Re-saving the same step replaces it. */
export async function saveCheckpoint(opts: SaveCheckpointOptions): Promise<string> {
  const { state } = opts;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(state.stage)) throw new Error(`saveCheckpoint: stage name "${state.stage}" is not a safe folder name`);
  if (!Number.isSafeInteger(state.step) || state.step < 0) throw new Error(`saveCheckpoint: step must be an integer ≥ 0, got ${state.step}`);
  const stageDir = join(opts.output, state.stage);
  await fsp.mkdir(stageDir, { recursive: true });
  const name = `checkpoint-${state.step}`;
  const final = join(stageDir, name);
  const tmp = tempPathFor(final);
  await fsp.mkdir(tmp);
  try {
    await opts.writeModel(tmp);
    if (opts.optimizer) await opts.optimizer.save(tmp);
    const full: TrainerState = { format: FORMAT, version: VERSION, ...state, time: new Date().toISOString() };
    await writeFileAtomic(join(tmp, TRAINER_STATE_FILE), `${JSON.stringify(full, null, 1)}\n`);
    await syncDir(tmp);
    await replaceDir(tmp, final); // re-saving a step replaces its folder
    await syncDir(stageDir);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (opts.keepLast !== undefined && opts.keepLast > 0) {
    const all = await listStageCheckpoints(stageDir);
    for (const c of all.slice(0, Math.max(0, all.length - opts.keepLast))) await fsp.rm(c.dir, { recursive: true, force: true });
  }
  return final;
}

export interface CheckpointInfo {
  dir: string;
  state: TrainerState;
}

/** Reads and validates `<dir>/trainer_state.json`. */
export async function readTrainerState(dir: string): Promise<TrainerState> {
  const path = join(dir, TRAINER_STATE_FILE);
  let s: TrainerState;
  try {
    s = JSON.parse(await fsp.readFile(path, 'utf8')) as TrainerState;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code ? `cannot read (${code})` : `not valid JSON (${(e as Error).message})`}`);
  }
  const bad = (field: string, problem: string): never => {
    throw new Error(`${path}: ${field}: ${problem}`);
  };
  if (s === null || typeof s !== 'object') bad('(root)', 'expected an object');
  if (s.format !== FORMAT) bad('format', `expected "${FORMAT}", got ${JSON.stringify(s.format)}`);
  if (s.version !== VERSION) bad('version', `unsupported version ${JSON.stringify(s.version)}`);
  if (typeof s.stage !== 'string') bad('stage', 'expected a string');
  for (const k of ['stageIndex', 'step', 'stageSteps'] as const) if (!Number.isSafeInteger(s[k]) || s[k] < 0) bad(k, 'expected an integer ≥ 0');
  return s;
}

/** Complete checkpoints of one stage folder, oldest first. Temporary folders are ignored. */
export async function listStageCheckpoints(stageDir: string): Promise<CheckpointInfo[]> {
  let names: string[];
  try {
    names = await fsp.readdir(stageDir);
  } catch {
    return [];
  }
  const out: CheckpointInfo[] = [];
  for (const n of names) {
    if (!NAME_RE.test(n)) continue;
    const dir = join(stageDir, n);
    try {
      out.push({ dir, state: await readTrainerState(dir) });
    } catch {
      // Not one of ours or unreadable: not a resume candidate.
    }
  }
  return out.sort((a, b) => a.state.step - b.state.step);
}

/** The checkpoint to resume from: the latest stage, then the highest step. Undefined when none. */
export async function latestCheckpoint(output: string): Promise<CheckpointInfo | undefined> {
  let stages: string[];
  try {
    stages = (await fsp.readdir(output, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  } catch {
    return undefined;
  }
  let best: CheckpointInfo | undefined;
  for (const s of stages) {
    for (const c of await listStageCheckpoints(join(output, s))) {
      if (!best || c.state.stageIndex > best.state.stageIndex || (c.state.stageIndex === best.state.stageIndex && c.state.step > best.state.step)) best = c;
    }
  }
  return best;
}

/** Removes temporary folders left by an interrupted save (call at startup, single writer). */
export async function removeStaleCheckpointTemps(output: string): Promise<number> {
  let removed = 0;
  let stages: string[];
  try {
    stages = await fsp.readdir(output);
  } catch {
    return 0;
  }
  for (const s of stages) {
    let names: string[];
    try {
      names = await fsp.readdir(join(output, s));
    } catch {
      continue;
    }
    for (const n of names) {
      if (/^\.+checkpoint-\d+\.(tmp|old)-/.test(n)) {
        await fsp.rm(join(output, s, n), { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}

async function syncDir(dir: string): Promise<void> {
  // Persist the rename/creation; not supported everywhere (e.g. Windows), hence best effort.
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}
