// A lock file that keeps two runs from appending to the same output or cache. It records the
// owner's pid and host; a lock left behind by a killed process (same host, pid gone) is taken over, and
// so is one that has stayed empty for a while (a crash between creating and writing it), but not a fresh
// empty one: another process is between its create and its write.
import { openSync, writeSync, closeSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { processAlive } from '../util/process.js';

/** How long a lock file may stay empty or unreadable before it counts as left behind by a crash. */
const UNREADABLE_GRACE_MS = 10_000;

/** Takes `lockPath` for `what` (used in the error message); returns the release function. */
export function acquireLock(lockPath: string, what: string): () => void {
  const me = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${JSON.stringify(me)}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        try {
          unlinkSync(lockPath);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner: { pid?: number; host?: string } = {};
      try {
        owner = JSON.parse(readFileSync(lockPath, 'utf8')) as typeof owner;
      } catch {
        // empty or garbage: a taker between its create and its write, or the remains of a crash
      }
      if (owner.pid === undefined) {
        // Only a lock that has stayed unreadable for a while is abandoned; a fresh one is being written.
        const age = Date.now() - (statSync(lockPath, { throwIfNoEntry: false })?.mtimeMs ?? 0);
        if (age < UNREADABLE_GRACE_MS) throw new Error(`${what} is being locked by another process (lock file ${lockPath}); try again, or delete the lock file if no qzhou process is running`);
      } else if (owner.host !== me.host || processAlive(owner.pid)) {
        throw new Error(`${what} is in use by process ${owner.pid} on ${owner.host} (lock file ${lockPath}); if that process is not running, delete the lock file`);
      }
      try {
        unlinkSync(lockPath);
      } catch {
        // raced with another taker; the next openSync decides
      }
    }
  }
  throw new Error(`could not take the lock ${lockPath} for ${what}`);
}
