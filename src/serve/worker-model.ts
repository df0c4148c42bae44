// A model hosted in a worker thread. onnxruntime-node runs a session synchronously on the thread that
// calls it, so a model on the server's thread stops it from accepting connections, parsing requests,
// answering /health and firing timeouts for the whole length of every batch. Here the model runs in a
// worker (model-worker.ts): HTTP work overlaps with inference, and the server stays responsive.
// Vectors come back as transferred buffers (no copy).
import { Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { EmbedRequest } from '../model/embedder.js';
import { plainRequest, type ServedModel } from './served-model.js';
import type { WorkerCall, WorkerData, WorkerMessage, WorkerModelSource } from './worker-protocol.js';

export type { WorkerModelSource } from './worker-protocol.js';

// Runs in the worker (CommonJS eval): registers tsx when the sources are TypeScript, then loads the entry.
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => setImmediate(() => { throw e; }));
`;

export interface WorkerModelOptions {
  /** Called once if the worker dies while the model is in use (not after close()). */
  onExit?: (error: Error) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class WorkerModel implements ServedModel {
  readonly id: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly embedTokenIds?: (ids: readonly (readonly number[])[]) => Promise<Float32Array[]>;
  /** Calls queue in the worker: one waiting behind the running one keeps the worker busy (see ServedModel). */
  readonly pipelineDepth = 2;
  private readonly pending = new Map<number, Pending>();
  private counts: { job: { texts: string[]; request: EmbedRequest }; resolve: (v: number[]) => void; reject: (e: Error) => void }[] = [];
  private nextId = 1;
  private failure?: Error;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    ready: Extract<WorkerMessage, { type: 'ready' }>,
    private readonly opts: WorkerModelOptions,
  ) {
    this.id = ready.id;
    this.dim = ready.dim;
    this.maxLength = ready.maxLength;
    if (ready.tokenIds) this.embedTokenIds = (ids) => this.call({ op: 'embedTokenIds', ids: ids.map((x) => [...x]) }) as Promise<Float32Array[]>;
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'result') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    });
    worker.on('error', (e) => this.fail(new Error(`the model worker failed: ${e.message}`)));
    worker.on('exit', (code) => this.fail(new Error(`the model worker exited (code ${code})`)));
  }

  /** Starts a worker thread and loads the model in it; rejects with the load error. */
  static async start(source: WorkerModelSource, opts: WorkerModelOptions = {}): Promise<WorkerModel> {
    const fromSources = import.meta.url.endsWith('.ts');
    const data: WorkerData = {
      entry: new URL(`./model-worker.${fromSources ? 'ts' : 'js'}`, import.meta.url).href,
      tsx: fromSources ? import.meta.resolve('tsx/esm/api') : undefined,
      source,
    };
    const worker = new Worker(BOOT, { eval: true, workerData: data });
    const ready = await new Promise<Extract<WorkerMessage, { type: 'ready' }>>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type === 'ready') done(() => resolve(m));
        else if (m.type === 'failed') done(() => reject(new Error(m.error)));
      };
      const onError = (e: Error) => done(() => reject(e));
      const onExit = (code: number) => done(() => reject(new Error(`the model worker exited (code ${code}) while loading`)));
      const done = (f: () => void) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        f();
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (e: Error) => {
      await worker.terminate();
      throw e;
    });
    return new WorkerModel(worker, ready, opts);
  }

  /** The worker thread's event-loop utilisation (ONNX Runtime's run() counts as busy); see performance.eventLoopUtilization. */
  utilization(previous?: EventLoopUtilization): EventLoopUtilization {
    return this.worker.performance.eventLoopUtilization(previous);
  }

  get healthy(): boolean {
    return this.failure === undefined;
  }

  /**
   * Counts made in the same turn of the event loop (typically one per request that just arrived) go to
   * the worker as one message, so that they do not queue one by one behind a running batch.
   */
  countTokens(texts: readonly string[], request?: EmbedRequest): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.counts.push({ job: { texts: [...texts], request: plainRequest(request) }, resolve, reject });
      if (this.counts.length === 1) setImmediate(() => this.flushCounts());
    });
  }

  private flushCounts(): void {
    const batch = this.counts;
    this.counts = [];
    this.call({ op: 'count', jobs: batch.map((c) => c.job) }).then(
      (value) => {
        (value as (number[] | { error: string })[]).forEach((r, i) => {
          if (Array.isArray(r)) batch[i]!.resolve(r);
          else batch[i]!.reject(new Error(r.error));
        });
      },
      (e: Error) => batch.forEach((c) => c.reject(e)),
    );
  }

  truncateLeft(prefix: string, text: string, request: EmbedRequest): Promise<string> {
    return this.call({ op: 'truncateLeft', prefix, text, request: plainRequest(request) }) as Promise<string>;
  }

  embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]> {
    return this.call({ op: 'embed', texts: [...texts], request: plainRequest(request) }) as Promise<Float32Array[]>;
  }

  /** Closes the model in the worker, then stops the worker. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.failure) await this.call({ op: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private call(c: WorkerCall): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...c, id });
    });
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    if (!this.closing) this.opts.onExit?.(error);
  }
}
