// Serialises an IR graph to an ONNX ModelProto (opset 17 by default) through onnx-proto.
// Parameters become initializers (embedded, or external data: either a weights file written next to
// the model or byte ranges of existing files such as .safetensors), or graph inputs for training.
import { createHash } from 'node:crypto';
import { isAbsolute, relative, sep } from 'node:path';
import pkg from 'onnx-proto';
import { ONNX_DTYPE, type TypedArray } from './dtype.js';
import type { AttrValue, ConstTensor, Graph, Shape, Value, ValueOrigin } from './ir.js';
import { GraphError, isWildcard } from './ir.js';

const { onnx } = pkg;

export const DEFAULT_OPSET = 17;
const IR_VERSION = 8;
/** External-data offsets are aligned so ONNX Runtime can memory-map them. */
const EXTERNAL_ALIGN = 4096;

export interface WriteOptions {
  opset?: number;
  /**
   * Where parameters with in-memory values go: 'embed' in the protobuf, 'external' in `externalFile`
   * next to the model, 'auto' (default) embeds when they total under `embedLimitBytes`.
   */
  memoryParams?: 'auto' | 'embed' | 'external';
  embedLimitBytes?: number;
  /** Directory the model file will live in; needed for external data (paths are stored relative to it). */
  modelDir?: string;
  /** File name for in-memory params written as external data (default: named by the hash of their bytes). */
  externalFile?: string;
  /** Extra opset imports, e.g. { 'com.microsoft': 1 }; added automatically when contrib ops are used. */
  extraOpsets?: Record<string, number>;
  docString?: string;
}

export interface ExternalChunk {
  offset: number;
  data: TypedArray;
}

export interface SerializedModel {
  bytes: Uint8Array;
  /** Chunks to write into `externalFile` at their offsets (empty when nothing went external). */
  external: { file: string; chunks: ExternalChunk[]; size: number } | null;
  /** Paths of existing files the model references by byte range. */
  referencedFiles: string[];
  /** sha256 of the model bytes and the referenced ranges: a cache key for sessions. */
  hash: string;
}

function dimProto(d: Shape[number]) {
  if (typeof d === 'number') return { dimValue: d };
  if (isWildcard(d)) return {};
  return { dimParam: d };
}

function typeProto(v: Value) {
  return { tensorType: { elemType: ONNX_DTYPE[v.dtype], shape: { dim: v.shape.map(dimProto) } } };
}

function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(name: string, t: ConstTensor) {
  return { name, dims: t.dims, dataType: ONNX_DTYPE[t.dtype], rawData: bytesOf(t.data) };
}

function attrProto(name: string, a: AttrValue) {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.value };
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'ints': return { name, type: T.INTS, ints: a.value };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor': return { name, type: T.TENSOR, t: tensorProto('', a.value) };
  }
}

function relativeInside(dir: string, file: string, param: string): string {
  const rel = relative(dir, file);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) {
    throw new GraphError(`param "${param}": ${file} is outside the model directory ${dir}; ONNX Runtime only reads external data inside it`);
  }
  return rel.split(sep).join('/');
}

/** Writes the graph as ONNX. Pure: returns bytes and the external chunks; the caller writes files. */
export function serializeGraph(graph: Graph, opts: WriteOptions = {}): SerializedModel {
  if (graph.outputs.length === 0) throw new GraphError(`graph "${graph.name}" has no outputs`);
  const opset = opts.opset ?? DEFAULT_OPSET;

  let memBytes = 0;
  for (const p of graph.params) {
    const o = p.origin as Extract<ValueOrigin, { kind: 'param' }>;
    if (o.source.kind === 'memory') memBytes += o.source.data.byteLength;
  }
  const mode = opts.memoryParams ?? 'auto';
  const goExternal = mode === 'external' || (mode === 'auto' && memBytes > (opts.embedLimitBytes ?? 1 << 30));
  if (goExternal && !opts.modelDir) throw new GraphError(`graph "${graph.name}": external weights need a modelDir`);

  // Lay out external chunks first so the weights file can be named by the hash of its contents.
  const hash = createHash('sha256');
  const chunks: ExternalChunk[] = [];
  const chunkOf = new Map<Value, ExternalChunk>();
  let extSize = 0;
  if (goExternal) {
    const dataHash = createHash('sha256');
    for (const p of graph.params) {
      const o = p.origin as Extract<ValueOrigin, { kind: 'param' }>;
      if (o.source.kind !== 'memory') continue;
      const offset = Math.ceil(extSize / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      const c = { offset, data: o.source.data };
      chunks.push(c);
      chunkOf.set(p, c);
      extSize = offset + o.source.data.byteLength;
      dataHash.update(bytesOf(o.source.data));
    }
    hash.update(dataHash.digest());
  }
  const externalFile = opts.externalFile ?? `${hash.copy().digest('hex').slice(0, 24)}.weights`;

  const inputs = graph.inputs.map((v) => ({ name: v.name, type: typeProto(v) }));
  const initializer: object[] = [];
  const referenced = new Set<string>();

  for (const p of graph.params) {
    const o = p.origin as Extract<ValueOrigin, { kind: 'param' }>;
    const dims = p.shape as number[];
    const src = o.source;
    if (src.kind === 'input') {
      inputs.push({ name: p.name, type: typeProto(p) });
    } else if (src.kind === 'memory' && !goExternal) {
      initializer.push({ name: p.name, dims, dataType: ONNX_DTYPE[p.dtype], rawData: bytesOf(src.data) });
    } else if (src.kind === 'memory') {
      const { offset } = chunkOf.get(p)!;
      initializer.push({
        name: p.name, dims, dataType: ONNX_DTYPE[p.dtype], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [{ key: 'location', value: externalFile }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(src.data.byteLength) }],
      });
    } else {
      if (!opts.modelDir) throw new GraphError(`param "${p.name}" points into ${src.path}: writing it needs a modelDir`);
      const location = relativeInside(opts.modelDir, src.path, p.name);
      referenced.add(src.path);
      initializer.push({
        name: p.name, dims, dataType: ONNX_DTYPE[p.dtype], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(src.offset) }, { key: 'length', value: String(src.length) }],
      });
    }
  }
  for (const c of graph.consts) initializer.push(tensorProto(c.name, (c.origin as Extract<ValueOrigin, { kind: 'const' }>).tensor));

  const domains = new Map<string, number>(Object.entries(opts.extraOpsets ?? {}));
  const nodes = graph.nodes.map((n) => {
    if (n.domain && !domains.has(n.domain)) domains.set(n.domain, 1);
    return {
      name: n.name,
      opType: n.op,
      domain: n.domain,
      input: n.inputs.map((x) => (x ? x.name : '')),
      output: n.outputs.map((x) => x.name),
      attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
    };
  });

  const model = {
    irVersion: IR_VERSION,
    producerName: 'qzhou',
    opsetImport: [{ domain: '', version: opset }, ...[...domains].map(([domain, version]) => ({ domain, version }))],
    docString: opts.docString,
    graph: {
      name: graph.name,
      node: nodes,
      input: inputs,
      output: graph.outputs.map((v) => ({ name: v.name, type: typeProto(v) })),
      initializer,
    },
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new GraphError(`graph "${graph.name}": invalid ONNX model: ${err}`);
  const bytes = onnx.ModelProto.encode(model).finish();
  hash.update(bytes);
  return {
    bytes,
    external: chunks.length ? { file: externalFile, chunks, size: extSize } : null,
    referencedFiles: [...referenced],
    hash: hash.digest('hex'),
  };
}
