import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsCheckpoint, SafetensorsFile, parseSafetensorsHeader, readHeaderLength, writeSafetensors,
  writeSafetensorsSharded, floatTensor, INDEX_FILE,
} from '../../src/model/safetensors.js';
import { CheckpointError } from '../../src/model/errors.js';
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from '../../src/graph/dtype.js';
import { mulberry32 } from '../../src/util/random.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'qzhou-st-'));
}

/** Builds a file by hand, the way the format is specified, independently of the writer. */
function handMade(header: unknown, data: Uint8Array, pad = true): Uint8Array {
  let json = Buffer.from(JSON.stringify(header));
  if (pad && json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Uint8Array.from(Buffer.concat([prefix, json, data])); // own buffer (Buffer.concat may share a pool)
}

test('half conversions: exact bit patterns, rounding to nearest even, specials', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], [2 ** -25 * 1.5, 0x0001], [2 ** -14, 0x0400], [0.1, 0x2e66], [-0, 0x8000],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  const src = Float32Array.from(cases.map((c) => c[0]));
  const bits = f32ToF16(src);
  cases.forEach(([x, want], i) => assert.equal(bits[i], want, `f16(${x}) = 0x${bits[i]!.toString(16)}, want 0x${want.toString(16)}`));
  const nan = f32ToF16(Float32Array.of(NaN))[0]!;
  assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0, 'NaN stays NaN');
  // every finite half value survives half → f32 → half
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = f32ToF16(f16ToF32(all));
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff)) continue; // NaN payloads may change
    assert.equal(back[h], h, `half 0x${h.toString(16)} round trip`);
  }
  assert.equal(f16ToF32(Uint16Array.of(0x3555))[0], 0.333251953125);
  // bfloat16: the top 16 bits, rounded to nearest even
  const b = f32ToBf16(Float32Array.of(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -3.5, 1 + 2 ** -7));
  assert.deepEqual([...b], [0x3f80, 0x3f80, 0x3f82, 0xc060, 0x3f81]);
  assert.deepEqual([...bf16ToF32(Uint16Array.of(0x3f80, 0xc060, 0x3f81))], [1, -3.5, 1 + 2 ** -7]);
});

test('writer output matches the format: aligned header, layout order, metadata; reader reads it back', async () => {
  const dir = tmp();
  try {
    const a = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    const b = Float32Array.of(0.5, -1, 3);
    const path = join(dir, 'm.safetensors');
    await writeSafetensors(path, [
      floatTensor('b.half', [3], b, 'F16'),
      floatTensor('a', [2, 3], a, 'F32'),
      floatTensor('c.bf16', [1, 3], b, 'BF16'),
      { name: 'ids', dtype: 'I64', shape: [2], data: BigInt64Array.of(7n, -1n) },
    ], { format: 'pt' });
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0, 'data region starts 8-byte aligned');
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    assert.deepEqual(header.__metadata__, { format: 'pt' });
    // larger dtypes first, then by name: I64 (8), F32 (4), BF16/F16 (2) by name
    assert.deepEqual(header.ids.data_offsets, [0, 16]);
    assert.deepEqual(header.a.data_offsets, [16, 40]);
    assert.deepEqual(header['b.half'].data_offsets, [40, 46]);
    assert.deepEqual(header['c.bf16'].data_offsets, [46, 52]);
    assert.equal(bytes.length, 8 + n + 52);
    assert.deepEqual(readdirSync(dir), ['m.safetensors'], 'no temp files left behind');

    const ck = await SafetensorsCheckpoint.open(dir, 'm.safetensors');
    assert.deepEqual(ck.metadata, { format: 'pt' });
    assert.deepEqual([...(await ck.readFloat32('a'))], [...a]);
    assert.deepEqual([...(await ck.readFloat32('b.half'))], [0.5, -1, 3]);
    assert.deepEqual([...(await ck.readFloat32('c.bf16'))], [0.5, -1, 3]);
    assert.deepEqual([...(await ck.readFloat32('a', 1, 2))], [0.5, 1.5, 2.5], 'row range read');
    const raw = await ck.readBytes('ids');
    assert.deepEqual([...new BigInt64Array(raw.buffer)], [7n, -1n]);
    await assert.rejects(ck.readFloat32('ids'), (e: unknown) => e instanceof CheckpointError && /ids.*dtype/.test((e as Error).message));
    await assert.rejects(ck.readFloat32('nope'), (e: unknown) => e instanceof CheckpointError && /"nope".*missing/.test((e as Error).message));
    await ck.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reads a hand-made file (unpadded header, metadata null) and the Python fixture', async () => {
  const dir = tmp();
  try {
    const data = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);
    writeFileSync(join(dir, 'model.safetensors'), handMade({ __metadata__: null, w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, data, false));
    const ck = await SafetensorsCheckpoint.open(dir);
    assert.deepEqual([...(await ck.readFloat32('w'))], [1, 2, 3, 4]);
    await ck.close();
    const fx = await SafetensorsCheckpoint.open(new URL('../fixtures/qwen2-tiny', import.meta.url).pathname);
    assert.equal(fx.names().length, 26);
    assert.deepEqual(fx.get('embed_tokens.weight')!.shape, [384, 64]);
    assert.equal((await fx.readFloat32('norm.weight')).length, 64);
    await fx.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sharded write: shards + index.json that the sharded reader resolves', async () => {
  const dir = tmp();
  try {
    const r = mulberry32(1);
    const tensors = Array.from({ length: 7 }, (_, i) => {
      const v = Float32Array.from({ length: 10 + i }, () => r() - 0.5);
      return { name: `layer.${i}.w`, v };
    });
    const files = await writeSafetensorsSharded(dir, tensors.map((t) => floatTensor(t.name, [t.v.length], t.v)), { maxShardBytes: 100 });
    assert.ok(files.length > 2 && files.includes(INDEX_FILE));
    const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8'));
    assert.equal(index.metadata.total_size, tensors.reduce((s, t) => s + t.v.length * 4, 0));
    assert.match(files[0]!, /^model-00001-of-0000\d\.safetensors$/);
    const ck = await SafetensorsCheckpoint.open(dir);
    assert.equal(ck.files.length, files.length - 1);
    for (const t of tensors) assert.deepEqual([...(await ck.readFloat32(t.name))], [...t.v]);
    await ck.close();

    // index naming a missing tensor or shard → error naming the index and the field
    index.weight_map['ghost'] = files[0];
    writeFileSync(join(dir, INDEX_FILE), JSON.stringify(index));
    await assert.rejects(SafetensorsCheckpoint.open(dir), (e: unknown) => e instanceof CheckpointError && e.file.endsWith(INDEX_FILE) && /weight_map\["ghost"\]/.test(e.message));
    delete index.weight_map.ghost;
    index.weight_map['layer.0.w'] = 'gone.safetensors';
    writeFileSync(join(dir, INDEX_FILE), JSON.stringify(index));
    await assert.rejects(SafetensorsCheckpoint.open(dir), /gone\.safetensors, which does not exist/);
    index.weight_map['layer.0.w'] = '../escape.safetensors';
    writeFileSync(join(dir, INDEX_FILE), JSON.stringify(index));
    await assert.rejects(SafetensorsCheckpoint.open(dir), /must be a file name in the same folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing weights: the error says which files were looked for', async () => {
  const dir = tmp();
  try {
    await assert.rejects(SafetensorsCheckpoint.open(dir), /no model\.safetensors or model\.safetensors\.index\.json/);
    writeFileSync(join(dir, 'pytorch_model.bin'), 'x');
    await assert.rejects(SafetensorsCheckpoint.open(dir), /PyTorch \.bin/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Each corruption, the field the error must name. */
test('corrupt headers give one clear error naming the file and the field', () => {
  const f32 = (n: number) => new Uint8Array(n * 4);
  const cases: [string, Uint8Array, RegExp][] = [
    ['short file', new Uint8Array(5), /header length.*shorter than the 8-byte/],
    ['zero length', handMade({}, new Uint8Array(0)).map((b, i) => (i < 8 ? 0 : b)), /header length.*is 0/],
    ['length past end', (() => { const x = handMade({}, new Uint8Array(0)); new DataView(x.buffer).setBigUint64(0, 999n, true); return x; })(), /header length.*runs past the end/],
    ['huge length', (() => { const x = handMade({}, new Uint8Array(0)); new DataView(x.buffer).setBigUint64(0, 2n ** 62n, true); return x; })(), /header length.*exceeds/],
    ['not utf-8', (() => { const x = handMade({ a: 'x' }, new Uint8Array(0)); x[10] = 0xff; return x; })(), /header: is not valid UTF-8/],
    ['not json', handMade('nope' as unknown, new Uint8Array(0)), /header: does not start with "\{"/],
    ['bad json', (() => { const x = handMade({ abc: 1 }, new Uint8Array(0)); x[9] = 0x7b; x[10] = 0x7b; return x; })(), /header: is not valid JSON/],
    ['unknown dtype', handMade({ w: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }, f32(1)), /tensor "w"\.dtype: unknown dtype "F31"/],
    ['negative dim', handMade({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /tensor "w"\.shape/],
    ['fractional dim', handMade({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32(1)), /tensor "w"\.shape/],
    ['offsets past data', handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(1)), /tensor "w"\.data_offsets: end 8 is past the 4-byte data region/],
    ['size mismatch', handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)), /tensor "w"\.data_offsets: holds 8 bytes but shape \[3\] × F32 needs 12/],
    ['begin > end', handMade({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)), /tensor "w"\.data_offsets: begin 4 > end 0/],
    ['overlap', handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)), /tensor "b"\.data_offsets: overlaps tensor "a"/],
    ['metadata value', handMade({ __metadata__: { format: 1 } }, new Uint8Array(0)), /__metadata__\.format: must be a string/],
    ['entry not object', handMade({ w: [1, 2] }, new Uint8Array(0)), /tensor "w": must be an object/],
    ['offsets shape', handMade({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32(1)), /tensor "w"\.data_offsets: must be \[begin, end\]/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => {
      const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, 'x.safetensors');
      parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length, 'x.safetensors');
    }, (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `${what}: ${String(e)}`);
      assert.equal(e.file, 'x.safetensors');
      assert.match(e.message, re, what);
      assert.ok(e.message.startsWith('x.safetensors: '), what);
      return true;
    }, what);
  }
});

test('truncated file on disk: the error names the tensor that no longer fits', async () => {
  const dir = tmp();
  try {
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, [floatTensor('a', [4], new Float32Array(4)), floatTensor('z', [8], new Float32Array(8))]);
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, full.length - 3));
    await assert.rejects(SafetensorsFile.open(path), (e: unknown) => e instanceof CheckpointError && e.file === path && /data_offsets: end \d+ is past/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: byte flips, truncations, insertions and garbage never crash, hang or pass silently wrong data', async () => {
  const dir = tmp();
  try {
    const path = join(dir, 'seed.safetensors');
    const r = mulberry32(20240607);
    await writeSafetensors(path, [
      floatTensor('embed.weight', [5, 4], Float32Array.from({ length: 20 }, () => r())),
      floatTensor('norm.weight', [4], Float32Array.from({ length: 4 }, () => r()), 'BF16'),
      { name: 'pos', dtype: 'I64', shape: [3], data: BigInt64Array.of(0n, 1n, 2n) },
    ], { format: 'pt' });
    const seed = readFileSync(path);
    const n = Number(seed.readBigUInt64LE(0));
    let ok = 0;
    let rejected = 0;
    const started = Date.now();
    for (let iter = 0; iter < 3000; iter++) {
      let bytes: Uint8Array = Uint8Array.from(seed);
      const kind = iter % 5;
      if (kind === 0) {
        for (let k = 1 + Math.floor(r() * 4); k > 0; k--) bytes[Math.floor(r() * (8 + n))] = Math.floor(r() * 256);
      } else if (kind === 1) {
        bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
      } else if (kind === 2) {
        const at = 8 + Math.floor(r() * n);
        const text = ['"', '{', '}', ',', '[', '-1', '1e309', '"F64"', '\\u0000', '9007199254740993', 'null'][Math.floor(r() * 11)]!;
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(text), bytes.subarray(at)]);
      } else if (kind === 3) {
        bytes = Uint8Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256));
      } else {
        // a syntactically valid header with random fields
        const dims = Array.from({ length: Math.floor(r() * 3) }, () => Math.floor(r() * 6) - 1);
        const b0 = Math.floor(r() * 100) - 10;
        bytes = handMade({ t: { dtype: ['F32', 'F16', 'BF16', 'X'][Math.floor(r() * 4)], shape: dims, data_offsets: [b0, b0 + Math.floor(r() * 40)] } }, new Uint8Array(Math.floor(r() * 64)));
      }
      const t0 = Date.now();
      try {
        const len = readHeaderLength(bytes.subarray(0, 8), bytes.length, 'f');
        const h = parseSafetensorsHeader(bytes.subarray(8, 8 + len), bytes.length, 'f');
        // accepted: every tensor must lie inside the file with a consistent size
        for (const t of h.tensors.values()) {
          assert.ok(t.offset >= 8 + len && t.offset + t.byteLength <= bytes.length, 'tensor inside the file');
        }
        ok++;
      } catch (e) {
        assert.ok(e instanceof CheckpointError, `iteration ${iter}: not a clean error: ${(e as Error)?.stack}`);
        rejected++;
      }
      assert.ok(Date.now() - t0 < 1000, `iteration ${iter} took too long`);
    }
    assert.ok(rejected > 1000 && ok > 10, `both outcomes exercised (ok ${ok}, rejected ${rejected})`);
    assert.ok(Date.now() - started < 20_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
