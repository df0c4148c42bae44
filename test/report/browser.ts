// A headless Chromium driven over the DevTools protocol through --remote-debugging-pipe (fd 3 and 4,
// NUL-terminated JSON messages): no npm dependency and no browser download — it uses the system's
// Chromium (Debian `chromium`). Loads a page, collects console errors, uncaught exceptions, failed and
// external requests, and evaluates checks inside the page.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The Chromium binary to use: $QZHOU_CHROMIUM / $CHROME_PATH, else the usual system locations; null when none. */
export function findChromium(): string | null {
  const candidates = [process.env.QZHOU_CHROMIUM, process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  method: string;
}

export interface PageEvent {
  kind: 'console' | 'exception' | 'log' | 'request' | 'request-failed';
  level?: string;
  text: string;
}

export class Browser {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private buffer = '';
  private listeners: ((method: string, params: Record<string, unknown>, sessionId?: string) => void)[] = [];
  private stderr = '';

  private constructor(
    private readonly proc: ChildProcess,
    private readonly userDataDir: string,
  ) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
        this.buffer = this.buffer.slice(end + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (!p) continue;
          if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p.resolve(msg.result ?? {});
        } else if (msg.method) {
          for (const l of this.listeners) l(msg.method, msg.params ?? {}, msg.sessionId);
        }
      }
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    proc.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`${p.method}: the browser exited\n${this.stderr}`));
      this.pending.clear();
    });
  }

  static async launch(executable: string): Promise<Browser> {
    const userDataDir = mkdtempSync(join(tmpdir(), 'qzhou-chromium-'));
    const args = [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--no-default-browser-check', '--disable-quic', '--disable-extensions', '--mute-audio',
      '--disable-dev-shm-usage', `--user-data-dir=${userDataDir}`, '--remote-debugging-pipe', '--window-size=1200,900', 'about:blank',
    ];
    const proc = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const browser = new Browser(proc, userDataDir);
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', reject);
    });
    await browser.send('Browser.getVersion', {});
    return browser;
  }

  send(method: string, params: Record<string, unknown>, sessionId?: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const message = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms\n${this.stderr}`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      (this.proc.stdio[3] as Writable).write(`${message}\0`);
    });
  }

  on(listener: (method: string, params: Record<string, unknown>, sessionId?: string) => void): void {
    this.listeners.push(listener);
  }

  /** Opens `url` in a new tab, waits for the load event (and a short settle), returns the tab's session and its events. */
  async open(url: string): Promise<{ session: string; events: PageEvent[] }> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const events: PageEvent[] = [];
    let loaded: () => void = () => {};
    const load = new Promise<void>((r) => (loaded = r));
    this.on((method, params, sid) => {
      if (sid !== sessionId) return;
      if (method === 'Runtime.consoleAPICalled') {
        const args = (params.args as { value?: unknown; description?: string }[] | undefined) ?? [];
        events.push({ kind: 'console', level: String(params.type), text: args.map((a) => String(a.value ?? a.description ?? '')).join(' ') });
      } else if (method === 'Runtime.exceptionThrown') {
        const d = params.exceptionDetails as { text?: string; exception?: { description?: string } };
        events.push({ kind: 'exception', level: 'error', text: `${d.text ?? ''} ${d.exception?.description ?? ''}`.trim() });
      } else if (method === 'Log.entryAdded') {
        const e = params.entry as { level: string; text: string; url?: string };
        events.push({ kind: 'log', level: e.level, text: `${e.text}${e.url ? ` (${e.url})` : ''}` });
      } else if (method === 'Network.requestWillBeSent') {
        const r = params.request as { url: string };
        events.push({ kind: 'request', text: r.url });
      } else if (method === 'Network.loadingFailed') {
        events.push({ kind: 'request-failed', level: 'error', text: `${String(params.errorText)}${params.blockedReason ? ` (${String(params.blockedReason)})` : ''}` });
      } else if (method === 'Page.loadEventFired') loaded();
    });
    for (const m of ['Runtime.enable', 'Log.enable', 'Page.enable', 'Network.enable']) await this.send(m, {}, sessionId);
    const nav = (await this.send('Page.navigate', { url }, sessionId)) as { errorText?: string };
    if (nav.errorText) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
    await Promise.race([load, new Promise((_, rej) => setTimeout(() => rej(new Error(`${url}: no load event within 30 s`)), 30_000))]);
    await new Promise((r) => setTimeout(r, 300));
    return { session: sessionId, events };
  }

  /** Evaluates an expression in the page and returns its JSON value. */
  async evaluate<T>(session: string, expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, session)) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`in-page check failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  async screenshot(session: string): Promise<Buffer> {
    const r = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, session)) as { data: string };
    return Buffer.from(r.data, 'base64');
  }

  async close(): Promise<void> {
    try {
      await this.send('Browser.close', {}, undefined, 5000);
    } catch {
      /* already gone */
    }
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.userDataDir, { recursive: true, force: true });
  }
}
