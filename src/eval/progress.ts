// Progress lines on stderr for long evaluation steps: rewritten in place on a terminal, throttled
// plain lines otherwise (logs, CI), silent when disabled.

export type ProgressSink = (line: string, final: boolean) => void;

export interface Progress {
  /** Starts (or continues) a labelled counter. */
  update(label: string, done: number, total: number): void;
  /** A one-off message (task start, result). */
  log(message: string): void;
}

/** Progress that writes nothing. */
export const silentProgress: Progress = { update() {}, log() {} };

/** Progress on a stream (default stderr): \r-updates on a TTY, otherwise a line at most every `intervalMs`. */
export function streamProgress(stream: NodeJS.WriteStream = process.stderr, intervalMs = 5000): Progress {
  const tty = !!stream.isTTY;
  let last = 0;
  let lastLabel = '';
  let lastText = '';
  let open = false;
  const endLine = () => {
    if (open) stream.write('\n');
    open = false;
  };
  return {
    update(label, done, total) {
      const now = Date.now();
      const finished = done >= total;
      const pct = total > 0 ? ((100 * done) / total).toFixed(0) : '100';
      const text = `${label}: ${done}/${total} (${pct}%)`;
      if (text === lastText) return;
      if (tty) {
        if (label !== lastLabel) endLine();
        if (finished || now - last >= 100 || label !== lastLabel) {
          stream.write(`\r\x1b[2K${text}`);
          open = true;
          last = now;
          lastText = text;
        }
        if (finished) endLine();
      } else if (finished || label !== lastLabel || now - last >= intervalMs) {
        stream.write(`${text}\n`);
        last = now;
        lastText = text;
      }
      lastLabel = label;
    },
    log(message) {
      endLine();
      stream.write(`${message}\n`);
    },
  };
}
