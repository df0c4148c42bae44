// The worker-thread side of WorkerModel: loads the model here, so that ONNX Runtime's synchronous run()
// blocks this thread and not the server's event loop, and answers calls from the main thread.
// Token counting and left truncation run here too, next to the tokenizer.
import { parentPort, workerData } from 'node:worker_threads';
import type { Embedder } from '../model/embedder.js';
import { searchLeftCut } from './inputs.js';
import { SyntheticEmbedder } from './synthetic-embedder.js';
import type { WorkerData, WorkerMessage, WorkerModelSource, WorkerRequest } from './worker-protocol.js';

async function load(source: WorkerModelSource): Promise<Embedder> {
  if (source.kind === 'synthetic') return new SyntheticEmbedder(source.options);
  const { loadEmbedder } = await import('../model/index.js');
  return loadEmbedder(source.dir, source.options);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Each distinct buffer once (several vectors may view one buffer); shared memory cannot be moved. */
function transferables(vectors: readonly Float32Array[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of vectors) if (v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}

const port = parentPort;
if (!port) throw new Error('model-worker.ts must run in a worker thread');
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let model: Embedder | undefined;
try {
  model = await load((workerData as WorkerData).source);
  post({ type: 'ready', id: model.id, dim: model.dim, maxLength: model.maxLength, tokenIds: typeof model.embedTokenIds === 'function' });
} catch (e) {
  post({ type: 'failed', error: errorMessage(e) });
}

/**
 * Model calls (embed, embedTokenIds) run one at a time, in arrival order. The server keeps two in flight
 * (WorkerModel.pipelineDepth) so that the next one is waiting here when one ends; without this queue the
 * two would interleave their ONNX Runtime runs batch by batch (each run() yields to the event loop), so
 * the first would end late, the second could end first, and the server's queue/inference split and
 * throughput estimate (which assume queued calls) would be wrong. Counts and left cuts do not wait.
 */
let modelCalls: Promise<unknown> = Promise.resolve();
function queued<T>(run: () => Promise<T>): Promise<T> {
  const p = modelCalls.then(run);
  modelCalls = p.catch(() => undefined);
  return p;
}

if (model) {
  const m = model;
  port.on('message', async (req: WorkerRequest) => {
    try {
      switch (req.op) {
        case 'count': {
          // One entry per countTokens() call merged into this message; a failing call fails only itself.
          const value = req.jobs.map((j) => {
            try {
              return m.countTokens(j.texts, j.request);
            } catch (e) {
              return { error: errorMessage(e) };
            }
          });
          post({ type: 'result', id: req.id, ok: true, value });
          break;
        }
        case 'truncateLeft': {
          const value = await searchLeftCut((t, r) => m.countTokens(t, r), m.maxLength, req.prefix, req.request, req.text);
          post({ type: 'result', id: req.id, ok: true, value });
          break;
        }
        case 'embed': {
          const value = await queued(() => m.embed(req.texts, req.request));
          post({ type: 'result', id: req.id, ok: true, value }, transferables(value));
          break;
        }
        case 'embedTokenIds': {
          if (!m.embedTokenIds) throw new Error('the model does not accept token ids');
          const value = await queued(() => m.embedTokenIds!(req.ids));
          post({ type: 'result', id: req.id, ok: true, value }, transferables(value));
          break;
        }
        case 'close':
          await m.close?.();
          post({ type: 'result', id: req.id, ok: true, value: null });
          port.close();
          break;
      }
    } catch (e) {
      post({ type: 'result', id: req.id, ok: false, error: errorMessage(e) });
    }
  });
}
