// The run folder: one subfolder per step, each finished by a `_DONE.json` marker (fingerprint of the
// step's inputs, its outputs with their hashes, timings and counts) written last and atomically. A
// `_STARTED.json` records which inputs a step was started with, so an interrupted step resumes in place
// only when they are unchanged (otherwise its folder is cleared). A folder is cleared by renaming it aside
// first (atomic) and deleting it after, so a kill never leaves a half-deleted step folder that looks
// resumable or complete. A lock file keeps two pipelines out of the same folder; a lock left by a killed
// process is taken over.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { FileEntry } from './fingerprint.js';
import { removeStaleTemporaries, writeFileAtomicSync } from '../util/atomic-file.js';
import { processAlive } from '../util/process.js';

export const DONE_FILE = '_DONE.json';
export const STARTED_FILE = '_STARTED.json';
export const LOCK_FILE = '.lock';
/** Prefix of a step folder renamed aside to be deleted (a leftover of a kill is deleted by the next run). */
export const DISCARD_PREFIX = '.discard-';
export const MARKER_VERSION = 1;

export type StepStatus = 'done' | 'skipped';

export interface StepMarker {
  version: number;
  step: string;
  /** sha256 over the step's settings, source files and upstream outputs. */
  fingerprint: string;
  /** 'skipped': the step had nothing to do (e.g. no LLM endpoint); `notice` says why. */
  status: StepStatus;
  notice?: string;
  startedAt: string;
  finishedAt: string;
  /** Seconds of the attempt that completed the step. */
  seconds: number;
  /** Attempts it took (> 1: resumed after an interruption). */
  attempts: number;
  /** Files the step produced, relative to its folder. */
  outputs: FileEntry[];
  /** sha256 over `outputs` and the step's exports: what downstream fingerprints depend on. */
  outputsDigest: string;
  /** Counts and settings for the report. */
  summary: Record<string, unknown>;
}

export interface StartedMarker {
  step: string;
  fingerprint: string;
  startedAt: string;
  pid: number;
  /** How many times this step was started with these inputs (2 = resumed once). */
  attempt: number;
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomicSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

export class RunLockedError extends Error {
  constructor(readonly folder: string, readonly pid: number) {
    super(`${folder}: another qzhou pipeline (pid ${pid}) is running in this run folder; wait for it or stop it first`);
    this.name = 'RunLockedError';
  }
}

export class RunFolder {
  private lockHeld = false;

  constructor(readonly root: string) {}

  stepDir(step: string): string {
    return join(this.root, step);
  }

  marker(step: string): StepMarker | null {
    const m = readJson<StepMarker>(join(this.stepDir(step), DONE_FILE));
    return m && m.version === MARKER_VERSION && m.step === step ? m : null;
  }

  started(step: string): StartedMarker | null {
    return readJson<StartedMarker>(join(this.stepDir(step), STARTED_FILE));
  }

  /**
   * Whether the step completed with this fingerprint and its outputs are still there, unchanged in
   * size. Returns the reason when not.
   */
  check(step: string, fingerprint: string): { complete: true; marker: StepMarker } | { complete: false; reason: string } {
    const m = this.marker(step);
    if (!m) return { complete: false, reason: existsSync(join(this.stepDir(step), STARTED_FILE)) ? 'interrupted earlier' : 'not run yet' };
    if (m.fingerprint !== fingerprint) return { complete: false, reason: 'its inputs or settings changed' };
    for (const o of m.outputs) {
      const p = join(this.stepDir(step), o.path);
      let size: number;
      try {
        size = statSync(p).size;
      } catch {
        return { complete: false, reason: `output ${o.path} is missing` };
      }
      if (size !== o.size) return { complete: false, reason: `output ${o.path} changed size` };
    }
    return { complete: true, marker: m };
  }

  /**
   * Prepares the step folder for a run: resumes in place when it was started with the same
   * fingerprint (unless `fresh`); otherwise clears it. Returns the attempt number (1 = fresh start).
   */
  begin(step: string, fingerprint: string, opts: { fresh?: boolean } = {}): StartedMarker {
    const dir = this.stepDir(step);
    const prev = this.started(step);
    const resume = !opts.fresh && prev !== null && prev.fingerprint === fingerprint && this.marker(step) === null;
    if (!resume) this.discard(step);
    // A resumed step keeps its finished files; what a killed writer left half-written goes.
    else removeStaleTemporaries(dir, { recursive: true });
    mkdirSync(dir, { recursive: true });
    rmSync(join(dir, DONE_FILE), { force: true });
    const started: StartedMarker = { step, fingerprint, startedAt: new Date().toISOString(), pid: process.pid, attempt: resume ? prev.attempt + 1 : 1 };
    writeJsonAtomic(join(dir, STARTED_FILE), started);
    return started;
  }

  finish(marker: StepMarker): void {
    writeJsonAtomic(join(this.stepDir(marker.step), DONE_FILE), marker);
  }

  /**
   * Clears a step's folder, atomically: it is renamed aside (one rename: the folder is there, complete or
   * resumable as it was, or gone) and then deleted. The step then runs from an empty folder, and so does
   * everything downstream whose inputs change. A kill during the deletion leaves a `.discard-*` folder,
   * which the next run's lock() deletes.
   */
  discard(step: string): void {
    const dir = this.stepDir(step);
    if (!existsSync(dir)) return;
    const aside = join(this.root, `${DISCARD_PREFIX}${step}-${process.pid}-${randomBytes(4).toString('hex')}`);
    renameSync(dir, aside);
    rmSync(aside, { recursive: true, force: true });
  }

  /** Same as discard(): the step runs again from an empty folder (a marker-only removal would resume it). */
  invalidate(step: string): void {
    this.discard(step);
  }

  /** Deletes step folders left renamed aside by a run killed while clearing them. */
  private removeDiscarded(): void {
    for (const name of readdirSync(this.root)) {
      if (name.startsWith(DISCARD_PREFIX)) rmSync(join(this.root, name), { recursive: true, force: true });
    }
  }

  /** Takes the run folder's lock (exclusive create); a lock whose process is gone is taken over. */
  lock(): void {
    mkdirSync(this.root, { recursive: true });
    const path = join(this.root, LOCK_FILE);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.lockHeld = true;
        this.removeDiscarded();
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (pid === process.pid) {
        this.lockHeld = true;
        this.removeDiscarded();
        return;
      }
      if (processAlive(pid)) throw new RunLockedError(this.root, pid);
      try {
        unlinkSync(path);
      } catch {
        /* another process took it over first; retry */
      }
    }
    throw new Error(`${join(this.root, LOCK_FILE)}: could not take the run folder's lock`);
  }

  unlock(): void {
    if (!this.lockHeld) return;
    this.lockHeld = false;
    try {
      const pid = Number.parseInt(readFileSync(join(this.root, LOCK_FILE), 'utf8').trim(), 10);
      if (pid === process.pid) unlinkSync(join(this.root, LOCK_FILE));
    } catch {
      /* already gone */
    }
  }
}
