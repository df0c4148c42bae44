// Runs IR graphs on ONNX Runtime: execution-provider selection with clear errors, a session cache
// keyed by the graph's hash, model files placed where ORT accepts their external data, and
// host tensors in and out.
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, writeSync, rmSync, statSync, readdirSync } from 'node:fs';
import { writeAtomicWithSync } from '../util/atomic-file.js';
import { availableParallelism } from 'node:os';
import { defaultCacheDir } from '../util/cache-dir.js';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { type DType, type TypedArray, ORT_TYPE, checkArrayType, dtypeFromOrt } from './dtype.js';
import type { Graph } from './ir.js';
import { type SerializedModel, type WriteOptions, serializeGraph } from './onnx-writer.js';

export type Device = 'cpu' | 'webgpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];

/** A tensor in host memory. f16 data is its 16-bit patterns in a Uint16Array. */
export interface HostTensor {
  dtype: DType;
  dims: readonly number[];
  data: TypedArray;
}

export function hostTensor(dtype: DType, data: TypedArray, dims: readonly number[]): HostTensor {
  checkArrayType(dtype, data, 'tensor');
  return { dtype, dims, data };
}

export interface SessionOptions {
  /** Intra-op threads for the CPU provider (default: all cores). */
  threads?: number;
  /** ORT graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write options for the model (external data, opset). */
  write?: Omit<WriteOptions, 'modelDir'>;
  /**
   * Enables ORT's profiler. The JSON trace is written under `<cacheDir>/profiles/` when the session is
   * released, and its path is printed on stderr (see `GraphSession.profileFile`).
   */
  profile?: boolean;
}

export interface RuntimeOptions {
  device?: Device;
  /** Where models with external data are written (default $QZHOU_CACHE or ~/.cache/qzhou). */
  cacheDir?: string;
  threads?: number;
}

export class DeviceUnavailableError extends Error {
  constructor(device: Device, why: string) {
    super(`execution provider "${device}" is unavailable: ${why}`);
    this.name = 'DeviceUnavailableError';
  }
}

const require = createRequire(import.meta.url);

function cudaProviderInstalled(): boolean {
  try {
    const root = dirname(require.resolve('onnxruntime-node/package.json'));
    const bin = join(root, 'bin');
    const stack = [bin];
    while (stack.length) {
      const d = stack.pop()!;
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) stack.push(join(d, e.name));
        else if (/onnxruntime_providers_cuda/.test(e.name)) return true;
      }
    }
  } catch {
    /* not installed where expected */
  }
  return false;
}

/** Checks that a device's provider can exist in this install; throws DeviceUnavailableError saying why not. */
export function checkDevice(device: Device): void {
  if (!DEVICES.includes(device)) throw new Error(`unknown device "${device}" (expected ${DEVICES.join(', ')})`);
  if (device === 'cpu') return;
  const backends = (ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.() ?? [];
  const b = backends.find((x) => x.name === device);
  if (!b) throw new DeviceUnavailableError(device, `this onnxruntime-node build (${ort.env.versions.common}) does not support it on ${process.platform}/${process.arch}`);
  if (device === 'cuda' && !b.bundled && !cudaProviderInstalled()) {
    throw new DeviceUnavailableError(
      'cuda',
      'onnxruntime-node ships the CUDA provider as a separate download made at install time, and it is not installed here ' +
        '(installs with ONNXRUNTIME_NODE_INSTALL_CUDA=skip or without network skip it). Reinstall on a machine with CUDA 12 and cuDNN 9: ' +
        '`ONNXRUNTIME_NODE_INSTALL_CUDA=v12 npm rebuild onnxruntime-node`, or use --device webgpu.',
    );
  }
}

function providers(device: Device): ort.InferenceSession.ExecutionProviderConfig[] {
  if (device === 'cpu') return ['cpu'];
  return [device, 'cpu'];
}

/** Rounds a length up to a bucket so that sessions and kernels see few distinct shapes. */
export function bucketLength(n: number, opts: { multiple?: number; max?: number } = {}): number {
  const m = opts.multiple ?? 16;
  const b = n <= 8 ? 8 : Math.ceil(n / m) * m;
  return opts.max ? Math.min(b, Math.max(opts.max, n)) : b;
}

/** One ORT session over one graph. */
export class GraphSession {
  private released = false;
  /** The profiler's JSON trace, once a profiled session has been released. */
  profileFile: string | undefined;

  constructor(
    readonly session: ort.InferenceSession,
    readonly hash: string,
    readonly device: Device,
    readonly modelPath: string | null,
    /** Profiled sessions: the trace's file-name prefix (a path). */
    private readonly profilePrefix?: string,
    /** Called once on release (the runtime drops the session from its cache). */
    private readonly onRelease?: () => void,
  ) {}

  get isReleased(): boolean {
    return this.released;
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the graph. Feeds are host tensors by input name; returns the requested (default: all) outputs. */
  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.released) throw new Error(`session ${this.hash.slice(0, 12)} was released`);
    const f: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      const type = ORT_TYPE[t.dtype];
      if (!type) throw new Error(`input "${name}": dtype ${t.dtype} cannot be fed to ONNX Runtime from JS (cast inside the graph)`);
      f[name] = new ort.Tensor(type, t.data as never, t.dims);
    }
    for (const n of this.session.inputNames) if (!(n in f)) throw new Error(`graph input "${n}" was not fed (fed: ${Object.keys(f).join(', ') || 'nothing'})`);
    const res = outputs ? await this.session.run(f, outputs as string[]) : await this.session.run(f);
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(res)) {
      out[name] = { dtype: dtypeFromOrt(t.type), dims: t.dims, data: t.data as TypedArray };
    }
    return out;
  }

  /**
   * Frees the native session (idempotent). The runtime that created it forgets it, so asking that runtime
   * for the same graph again opens a new session instead of returning a released one.
   */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.onRelease?.();
    if (this.profilePrefix) this.session.endProfiling();
    await this.session.release();
    if (this.profilePrefix) {
      // The Node binding does not return the trace's path: ORT names it <prefix>_<timestamp>.json.
      const dir = dirname(this.profilePrefix);
      const base = basename(this.profilePrefix);
      const found = readdirSync(dir).filter((f) => f.startsWith(`${base}_`) && f.endsWith('.json')).sort();
      if (found.length) {
        this.profileFile = join(dir, found[found.length - 1]!);
        process.stderr.write(`ONNX Runtime profile: ${this.profileFile}\n`);
      }
    }
  }
}

function writeAtomically(path: string, parts: { offset: number; data: Uint8Array }[]): void {
  writeAtomicWithSync(path, (fd) => {
    for (const p of parts) {
      let done = 0;
      while (done < p.data.byteLength) done += writeSync(fd, p.data, done, p.data.byteLength - done, p.offset + done);
    }
  });
}

/**
 * Creates and caches sessions. One Runtime per device; sessions are shared by graph hash, so building
 * the same graph twice costs one session.
 */
export class Runtime {
  readonly device: Device;
  readonly cacheDir: string;
  readonly threads: number;
  private sessions = new Map<string, Promise<GraphSession>>();

  constructor(opts: RuntimeOptions = {}) {
    this.device = opts.device ?? 'cpu';
    checkDevice(this.device);
    this.cacheDir = opts.cacheDir ?? defaultCacheDir();
    this.threads = opts.threads ?? availableParallelism();
  }

  private static defaults = new Map<Device, Runtime>();
  /** A shared runtime per device. */
  static get(device: Device = 'cpu'): Runtime {
    let r = Runtime.defaults.get(device);
    if (!r) {
      r = new Runtime({ device });
      Runtime.defaults.set(device, r);
    }
    return r;
  }

  /** Serialises a graph and opens (or reuses) a session for it. */
  async session(graph: Graph, opts: SessionOptions = {}): Promise<GraphSession> {
    const placed = this.place(graph, opts.write ?? {});
    const key = `${placed.model.hash}:${opts.threads ?? this.threads}:${opts.optimization ?? 'all'}:${opts.profile ? 1 : 0}`;
    let s = this.sessions.get(key);
    if (!s) {
      const forget = () => {
        if (this.sessions.get(key) === s) this.sessions.delete(key);
      };
      s = this.create(placed, opts, forget);
      this.sessions.set(key, s);
      s.catch(forget);
    }
    return s;
  }

  /** Releases every cached session. */
  async releaseAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => null))?.release();
  }

  private async create(placed: { model: SerializedModel; path: string | null }, opts: SessionOptions, onRelease: () => void): Promise<GraphSession> {
    let profilePrefix: string | undefined;
    if (opts.profile) {
      const dir = join(this.cacheDir, 'profiles');
      mkdirSync(dir, { recursive: true });
      profilePrefix = join(dir, `${placed.model.hash.slice(0, 12)}-${process.pid}-${Date.now()}`);
    }
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: providers(this.device),
      graphOptimizationLevel: opts.optimization ?? 'all',
      intraOpNumThreads: opts.threads ?? this.threads,
      interOpNumThreads: 1,
      enableProfiling: opts.profile ?? false,
      ...(profilePrefix ? { profileFilePrefix: profilePrefix } : {}),
    };
    try {
      const session = placed.path ? await ort.InferenceSession.create(placed.path, so) : await ort.InferenceSession.create(placed.model.bytes, so);
      return new GraphSession(session, placed.model.hash, this.device, placed.path, profilePrefix, onRelease);
    } catch (e) {
      const msg = (e as Error).message;
      if (this.device !== 'cpu' && /provider|adapter|webgpu|cuda|dawn|vulkan/i.test(msg)) {
        throw new DeviceUnavailableError(this.device, `ONNX Runtime could not start it: ${msg}`);
      }
      throw e;
    }
  }

  /**
   * Decides where the model lives. In memory when nothing is external. Otherwise a folder in the
   * cache named by the hash, holding the model, its weights file and hard links to referenced files
   * (ORT refuses external paths outside the model's folder, absolute paths and symlinks leading out).
   */
  private place(graph: Graph, write: Omit<WriteOptions, 'modelDir'>): { model: SerializedModel; path: string | null } {
    // First pass without a modelDir tells whether anything is external.
    const fileParams = graph.params.some((p) => p.origin.kind === 'param' && p.origin.source.kind === 'file');
    const limit = write.embedLimitBytes ?? 1 << 30;
    let memBytes = 0;
    for (const p of graph.params) if (p.origin.kind === 'param' && p.origin.source.kind === 'memory') memBytes += p.origin.source.data.byteLength;
    const external = fileParams || write.memoryParams === 'external' || (write.memoryParams !== 'embed' && memBytes > limit);
    if (!external) return { model: serializeGraph(graph, write), path: null };

    // Stage folder: link (or, across filesystems, refuse with advice) each referenced file.
    const sources = new Map<string, string>(); // original path → name inside the folder
    for (const p of graph.params) {
      if (p.origin.kind !== 'param' || p.origin.source.kind !== 'file') continue;
      const src = p.origin.source.path;
      if (!sources.has(src)) {
        // The link pins the file's inode: a replaced checkpoint (new inode, even with the same size and
        // mtime, as `cp -p` or `rsync -a` leave it) must get a new link, never the old file's.
        const st = statSync(src);
        const tag = createHash('sha1').update(`${src}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`).digest('hex').slice(0, 12);
        sources.set(src, `${tag}-${basename(src)}`);
      }
    }
    const linksDir = join(this.cacheDir, 'links');
    mkdirSync(linksDir, { recursive: true });
    const linked = new Map<string, string>();
    for (const [src, name] of sources) {
      const dst = join(linksDir, name);
      if (!existsSync(dst)) {
        try {
          linkSync(src, dst);
        } catch (e) {
          // Another process linked the same file (same tag) at the same moment: that link is the one we want.
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new Error(
              `cannot hard-link ${src} into the cache ${linksDir} (${(e as NodeJS.ErrnoException).code}): ONNX Runtime reads external weights only ` +
                `inside the model's folder. Put the cache on the same filesystem as the checkpoint (QZHOU_CACHE=...), or load with a dtype that converts the weights.`,
            );
          }
        }
      }
      linked.set(src, dst);
    }
    // Re-point file params at the links while serialising relative to linksDir.
    const restore: (() => void)[] = [];
    for (const p of graph.params) {
      if (p.origin.kind !== 'param' || p.origin.source.kind !== 'file') continue;
      const src = p.origin.source as { path: string };
      const orig = src.path;
      src.path = linked.get(orig)!;
      restore.push(() => (src.path = orig));
    }
    let model: SerializedModel;
    try {
      model = serializeGraph(graph, { ...write, modelDir: linksDir });
    } finally {
      for (const r of restore) r();
    }
    const path = join(linksDir, `${model.hash.slice(0, 24)}.onnx`);
    if (!existsSync(path)) {
      if (model.external) {
        const wpath = join(linksDir, model.external.file);
        if (!existsSync(wpath)) {
          writeAtomically(wpath, model.external.chunks.map((c) => ({ offset: c.offset, data: new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength) })));
        }
      }
      writeAtomically(path, [{ offset: 0, data: model.bytes }]);
    }
    return { model, path };
  }
}

/** Removes cached model files (not the checkpoints they link to). */
export function clearGraphCache(cacheDir = defaultCacheDir()): void {
  rmSync(join(cacheDir, 'links'), { recursive: true, force: true });
}
