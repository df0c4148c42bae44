// Which model produced the results in a results folder, so that a rerun reuses a result file only when
// the same model wrote it. The identity of a model is the key its embeddings are cached under (the
// embedder's `id`: for a checkpoint, a hash of its files' identities plus the options that change its
// vectors — dtype, pooling, max length, prompt template; for an endpoint, URL + model + prompt template /
// dimensions; for TF-IDF fitted per task, the fitting options), plus whether task instructions were
// applied (the one evaluation option that changes every vector). It is recorded per task in
// <folder>/qzhou/identity.json, which mteb's result loaders do not read:
//   { "format": 1, "tasks": { "<Task>": { "model": "<embedder id>", "instructions": true,
//                                         "fitted"?: { "<split>/<subset>": "<fitted embedder id>" } } } }
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonFile } from './results.js';

const FORMAT = 1;

export interface ModelIdentity {
  /** The embedder's id (its embedding-cache key), or a model factory's declared id. */
  model: string;
  /** Task instructions applied (EvaluationOptions.instructions). */
  instructions: boolean;
}

export interface TaskIdentity extends ModelIdentity {
  /** Per-task fitted models (e.g. TF-IDF): the fitted embedder's id per "split/subset" (its corpus identity). */
  fitted?: Record<string, string>;
}

/** Thrown when a results folder holds results of another model. */
export class ResultIdentityError extends Error {
  constructor(
    readonly folder: string,
    readonly conflicts: { task: string; recorded: ModelIdentity }[],
    readonly current: ModelIdentity,
  ) {
    const list = conflicts.map((c) => `  ${c.task}.json: ${describeIdentity(c.recorded)}`).join('\n');
    super(
      `${folder} holds results of another model:\n${list}\n` +
        `this run's model is ${describeIdentity(current)}.\n` +
        'Reusing them would report the other model\'s scores as this one\'s. Give this model its own results folder ' +
        '(--model-name / --output; library: modelName / outputDir), or recompute and replace those results with ' +
        '--overwrite (library: overwrite: true).',
    );
    this.name = 'ResultIdentityError';
  }
}

export function describeIdentity(id: ModelIdentity): string {
  return `"${id.model}" (${id.instructions ? 'with' : 'without'} task instructions)`;
}

export function sameIdentity(a: ModelIdentity, b: ModelIdentity): boolean {
  return a.model === b.model && a.instructions === b.instructions;
}

export function identityPath(folder: string): string {
  return join(folder, 'qzhou', 'identity.json');
}

/** The identity records of a results folder (an empty map when it has none: a new folder, or one written by an older qzhou or by mteb). */
export function readIdentities(folder: string): Map<string, TaskIdentity> {
  const path = identityPath(folder);
  const out = new Map<string, TaskIdentity>();
  if (!existsSync(path)) return out;
  let v: { format?: unknown; tasks?: Record<string, Partial<TaskIdentity>> };
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: unreadable model identity record (${(e as Error).message}); remove it to treat the results as unverified`);
  }
  if (v.format !== FORMAT || !v.tasks || typeof v.tasks !== 'object') throw new Error(`${path}: not a format-${FORMAT} model identity record; remove it to treat the results as unverified`);
  for (const [task, r] of Object.entries(v.tasks)) {
    if (r && typeof r.model === 'string' && typeof r.instructions === 'boolean') out.set(task, { model: r.model, instructions: r.instructions, ...(r.fitted ? { fitted: r.fitted } : {}) });
  }
  return out;
}

/** Writes the records (all tasks of the folder) atomically. */
export function writeIdentities(folder: string, records: ReadonlyMap<string, TaskIdentity>): void {
  const tasks: Record<string, TaskIdentity> = {};
  for (const k of [...records.keys()].sort()) tasks[k] = records.get(k)!;
  writeJsonFile(identityPath(folder), { format: FORMAT, tasks });
}
