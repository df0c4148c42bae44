// Atomic file writes, used by every area that leaves files behind: write to a temporary file in the
// same directory, fsync, then rename over the target, so a reader (or a run resumed after a crash)
// sees either the old file or the new one, never a half-written one. Parent folders are created.
import { promises as fsp, openSync, writeSync, fsyncSync, closeSync, renameSync, rmSync, mkdirSync, readdirSync, type Dirent } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { processAlive } from './process.js';

/** A temporary path next to `path` (same directory, hence same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** tempPathFor's names; the group is the writer's pid. */
const TEMP_NAME = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

/**
 * Removes the temporaries (files or folders named by tempPathFor) that a killed process left in `dir`
 * (and below it with `recursive`). Those of running processes, this one included, are kept: they may be
 * being written. Returns the paths removed.
 */
export function removeStaleTemporaries(dir: string, opts: { recursive?: boolean } = {}): string[] {
  const removed: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    const m = TEMP_NAME.exec(e.name);
    if (m && !processAlive(Number(m[1]))) {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } else if (opts.recursive && e.isDirectory()) {
      removed.push(...removeStaleTemporaries(path, opts));
    }
  }
  return removed;
}

/** Writes `data` to `path` atomically (temp file + fsync + rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomicWith(path, async (fh) => {
    await fh.writeFile(data);
  });
}

/** Synchronous variant of writeFileAtomic. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  writeAtomicWithSync(path, (fd) => {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
  });
}

/**
 * Opens a temporary file next to `path`, lets `write` fill it through the file handle, then fsyncs and
 * renames it over `path`. On any error the temporary file is removed and `path` is left untouched.
 */
export async function writeAtomicWith(path: string, write: (fh: fsp.FileHandle) => Promise<void>): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const fh = await fsp.open(tmp, 'w');
  let closed = false;
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    closed = true;
    await fsp.rename(tmp, path);
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Synchronous variant of writeAtomicWith: `write` gets the temporary file's descriptor. */
export function writeAtomicWithSync(path: string, write: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  let fd: number | undefined = openSync(tmp, 'w');
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Moves the complete folder `tmp` to `final`, replacing a folder already there: rename() cannot replace a
 * non-empty folder, so the old one is moved aside first, put back if the rename fails, and removed after.
 * `tmp` and `final` must be on the same filesystem (siblings).
 */
export async function replaceDir(tmp: string, final: string): Promise<void> {
  try {
    await fsp.rename(tmp, final);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') throw e;
  }
  const aside = `${tempPathFor(final)}.old`;
  await fsp.rename(final, aside);
  try {
    await fsp.rename(tmp, final);
  } catch (e) {
    await fsp.rename(aside, final).catch(() => undefined);
    throw e;
  }
  await fsp.rm(aside, { recursive: true, force: true });
}
