// Checks on the paths a job will write, made before the job starts: a bad output path fails at once with a
// message naming it (not after the work is done, as a bare ENOTDIR), and no job writes over — or renames
// away, as resumable jobs do with a finished output — one of its own inputs.
import { accessSync, constants, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** statSync, or undefined when nothing is there (ENOENT, or ENOTDIR: a parent is a file). */
export function tryStat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** The absolute form of `path` with the symbolic links of its existing part resolved. */
export function canonicalPath(path: string): string {
  let head = resolve(path);
  const tail: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...tail.reverse());
    } catch {
      const up = dirname(head);
      if (up === head) return resolve(path);
      tail.push(basename(head));
      head = up;
    }
  }
}

/** Whether two paths name the same file (after resolving symbolic links). */
export function samePath(a: string, b: string): boolean {
  return canonicalPath(a) === canonicalPath(b);
}

/** Throws when `output` is one of `inputs` (undefined entries are ignored). */
export function assertNotAnInput(output: string, inputs: readonly (string | undefined)[]): void {
  for (const input of inputs) {
    if (input !== undefined && samePath(input, output)) throw new Error(`${output}: the output would overwrite an input (${input}); choose another output path`);
  }
}

/**
 * Why `path` cannot be created or replaced as a file (kind 'file') or used as a folder (kind 'folder'),
 * or undefined when nothing is in the way. Missing parent folders are fine (the writers create them); a
 * parent that is a file, or one this process may not write in, is not.
 */
export function outputPathProblem(path: string, kind: 'file' | 'folder'): string | undefined {
  const abs = resolve(path);
  const st = tryStat(abs);
  if (st) {
    if (kind === 'file' && st.isDirectory()) return 'is a folder; give a file path';
    if (kind === 'folder' && !st.isDirectory()) return 'is a file, not a folder';
  }
  let dir = st?.isDirectory() ? abs : dirname(abs);
  let dirStat = tryStat(dir);
  while (!dirStat) {
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
    dirStat = tryStat(dir);
  }
  if (!dirStat.isDirectory()) return `${dir} is a file, not a folder`;
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return `cannot write in ${dir} (permission denied)`;
  }
  return undefined;
}
