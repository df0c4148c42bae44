// Whether a process still runs, for locks and temporaries left behind by a killed process.

/** True when `pid` names a running process (EPERM: it runs under another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
