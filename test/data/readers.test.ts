import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readRecords, readAllRecords, findSplitFiles, DataError, csvField, type SourceRecord, type ReadOptions, type ReadWarning } from '../../src/data/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { tempDir, writeText, repoRoot } from './helpers.js';
import { zstdFixtureRows } from './fixtures/zstd-rows.js';

const dir = tempDir();

async function collect(path: string, opts: ReadOptions = {}): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const r of readRecords(path, opts)) out.push(r);
  return out;
}

function utf16(text: string, endian: 'le' | 'be'): Buffer {
  const le = Buffer.from('\ufeff' + text, 'utf16le');
  if (endian === 'le') return le;
  const be = Buffer.from(le);
  be.swap16();
  return be;
}

test('jsonl: records with their line numbers; blank lines, CRLF and a BOM are handled', async () => {
  const p = writeText(dir, 'a.jsonl', '\ufeff{"a":1}\r\n\r\n  \n{"a":"二","b":[1,2]}\r\n{"a":3}');
  const rs = await collect(p);
  assert.deepEqual(rs.map((r) => [r.line, r.record]), [
    [1, { a: 1 }],
    [4, { a: '二', b: [1, 2] }],
    [5, { a: 3 }],
  ]);
  assert.equal(rs[0]!.file, p);
});

test('jsonl: a bad line throws file:line, or is reported and skipped with onBadRecord', async () => {
  const p = writeText(dir, 'bad.jsonl', '{"a":1}\n{"a":\n[1,2]\nnull\n{"a":5}\n');
  await assert.rejects(collect(p), (e: unknown) => e instanceof DataError && e.line === 2 && e.message.startsWith(`${p}:2: invalid JSON`));
  const bad: DataError[] = [];
  const rs = await collect(p, { onBadRecord: (e) => bad.push(e) });
  assert.deepEqual(rs.map((r) => r.record.a), [1, 5]);
  assert.deepEqual(bad.map((e) => [e.line, e.reason]), [
    [2, 'bad-json'],
    [3, 'not-an-object'],
    [4, 'not-an-object'],
  ]);
  assert.match(bad[1]!.message, /:3: expected a JSON object, got an array$/);
});

test('jsonl.gz and ndjson are read by extension; results do not depend on the read size', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) lines.push(JSON.stringify({ i, t: `text ${i} ünï 中文 😀`.repeat(1 + (i % 3)) }));
  const text = lines.join('\n') + '\n';
  const gz = writeText(dir, 'big.jsonl.gz', gzipSync(text));
  const nd = writeText(dir, 'big.ndjson', text);
  const expected = lines.map((l, i) => ({ line: i + 1, record: JSON.parse(l) }));
  for (const bufferSize of [1, 2, 3, 7, 64, 1 << 20]) {
    for (const p of [gz, nd]) {
      const rs = await collect(p, { bufferSize });
      assert.deepEqual(rs.map((r) => ({ line: r.line, record: r.record })), expected, `${p} bufferSize ${bufferSize}`);
    }
  }
});

test('csv: RFC 4180 round trip of random fields (quotes, commas, LF/CRLF inside quotes) at any read size', async () => {
  const rand = mulberry32(7);
  const alphabet = ['a', 'b', ' ', ',', '"', '\n', '\r\n', 'é', '中', '😀', 'x', '""', "'", '\t'];
  const rows: string[][] = [];
  for (let r = 0; r < 120; r++) {
    const row: string[] = [];
    for (let c = 0; c < 3; c++) {
      let s = '';
      const n = Math.floor(rand() * 8);
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(rand() * alphabet.length)];
      row.push(s);
    }
    if (row.join('') === '') row[0] = 'z';
    rows.push(row);
  }
  for (const eol of ['\n', '\r\n']) {
    let text = 'h1,h2,h3' + eol;
    const startLines: number[] = [];
    for (const row of rows) {
      startLines.push(text.split('\n').length);
      text += row.map((f) => csvField(f)).join(',') + eol;
    }
    const p = writeText(dir, `rt${eol.length}.csv`, text);
    for (const bufferSize of [1, 5, 4096]) {
      const rs = await collect(p, { bufferSize });
      assert.equal(rs.length, rows.length);
      rs.forEach((r, i) => {
        assert.deepEqual(r.record, { h1: rows[i]![0], h2: rows[i]![1], h3: rows[i]![2] }, `row ${i}`);
        assert.equal(r.line, startLines[i], `line of row ${i}`);
      });
    }
  }
});

test('csv: lenient cases as in Python csv; blank lines; header BOM; explicit names and positional columns', async () => {
  const p = writeText(dir, 'edge.csv', '\ufefftext,label\r\n"ab"c,x\r\n\r\nsay "hi",y\r\n"",""\r\n');
  const rs = await collect(p);
  assert.deepEqual(rs.map((r) => [r.line, r.record]), [
    [2, { text: 'abc', label: 'x' }],
    [4, { text: 'say "hi"', label: 'y' }],
    [5, { text: '', label: '' }],
  ]);
  const named = await collect(p, { header: ['a', 'b'] });
  assert.deepEqual(named[0]!.record, { a: 'text', b: 'label' });
  const positional = await collect(p, { header: false });
  assert.deepEqual(positional[1]!.record, { 0: 'abc', 1: 'x' });
});

test('csv: duplicate header names and unterminated quotes are errors naming the line', async () => {
  const dup = writeText(dir, 'dup.csv', 'a,b,a\n1,2,3\n');
  await assert.rejects(collect(dup), /dup\.csv:1: a: duplicate column name/);
  const open = writeText(dir, 'open.csv', 'a,b\n1,2\n3,"never closed\nmore\n');
  await assert.rejects(collect(open), (e: unknown) => e instanceof DataError && e.line === 3 && /unterminated quoted field/.test(e.message));
});

test('csv: rows with a different field count are kept and reported as warnings', async () => {
  const p = writeText(dir, 'ragged.csv', 'a,b\n1,2\n3\n4,5,6\n');
  const warnings: ReadWarning[] = [];
  const rs = await collect(p, { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(rs.map((r) => r.record), [{ a: '1', b: '2' }, { a: '3' }, { a: '4', b: '5', 2: '6' }]);
  assert.deepEqual(warnings.map((w) => [w.line, w.kind]), [
    [3, 'ragged-row'],
    [4, 'ragged-row'],
  ]);
});

test('tsv without quote handling splits on tab only (STS-B style)', async () => {
  const p = writeText(dir, 'sts.csv', 'g\tf\t2012\t0001\t4.2\t"Hi," she said.\tShe "replied"\textra\n');
  const rs = await collect(p, { format: 'tsv', quote: false, header: ['genre', 'file', 'year', 'id', 'score', 'sentence1', 'sentence2'] });
  assert.deepEqual(rs[0]!.record, {
    genre: 'g',
    file: 'f',
    year: '2012',
    id: '0001',
    score: '4.2',
    sentence1: '"Hi," she said.',
    sentence2: 'She "replied"',
    7: 'extra',
  });
  const quoted = await collect(p, { format: 'tsv', header: false });
  assert.equal(quoted[0]!.record[5], 'Hi, she said.', 'with quoting on, the same line parses differently');
});

test('UTF-16 LE and BE files with a BOM are decoded (CSV and JSONL), at any read size', async () => {
  const csv = 'text,label\n"多行\n文本",ß\nplain,😀\n';
  const jsonl = '{"t":"ünï"}\n{"t":"中文😀"}\n';
  for (const endian of ['le', 'be'] as const) {
    const pc = writeText(dir, `u16${endian}.csv`, utf16(csv, endian));
    const pj = writeText(dir, `u16${endian}.jsonl`, utf16(jsonl, endian));
    for (const bufferSize of [1, 3, 1024]) {
      assert.deepEqual((await collect(pc, { bufferSize })).map((r) => [r.line, r.record]), [
        [2, { text: '多行\n文本', label: 'ß' }],
        [4, { text: 'plain', label: '😀' }],
      ]);
      assert.deepEqual((await collect(pj, { bufferSize })).map((r) => r.record.t), ['ünï', '中文😀']);
    }
  }
});

test('invalid UTF-8 bytes: replaced and warned (default), decoded as Windows-1252, or a bad record', async () => {
  const bytes = Buffer.concat([
    Buffer.from('{"t":"ok"}\n{"t":"caf'),
    Buffer.from([0xe9]), // "é" in Latin-1: not UTF-8
    Buffer.from('"}\n{"t":"real \ufffd stays"}\n'),
  ]);
  const p = writeText(dir, 'mixed.jsonl', bytes);
  const warnings: ReadWarning[] = [];
  const rs = await collect(p, { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(rs.map((r) => r.record.t), ['ok', 'caf\ufffd', 'real \ufffd stays']);
  assert.deepEqual(warnings.map((w) => [w.line, w.kind]), [[2, 'invalid-text']]);
  const latin = await collect(p, { invalidText: 'latin1', onWarning: () => {} });
  assert.equal(latin[1]!.record.t, 'café');
  const bad: DataError[] = [];
  const strict = await collect(p, { invalidText: 'error', onBadRecord: (e) => bad.push(e) });
  assert.deepEqual(strict.map((r) => r.line), [1, 3]);
  assert.deepEqual(bad.map((e) => [e.line, e.reason]), [[2, 'invalid-text']]);
  // The same in a CSV record spanning lines.
  const csv = writeText(dir, 'mixed.csv', Buffer.concat([Buffer.from('a,b\n"x\ny'), Buffer.from([0xff]), Buffer.from('",2\n3,4\n')]));
  const badCsv: DataError[] = [];
  const rc = await collect(csv, { invalidText: 'error', onBadRecord: (e) => badCsv.push(e) });
  assert.deepEqual(rc.map((r) => r.record), [{ a: '3', b: '4' }]);
  assert.equal(badCsv[0]!.line, 2);
});

test('json: arrays stream element by element with start lines; brackets and quotes inside strings', async () => {
  const p = writeText(dir, 'arr.json', '[\n  {"q": "a [tricky], {string} \\" here",\n   "n": [1, {"x": 2}]},\n  {"q": "second"}\n]\n');
  for (const bufferSize of [1, 4, 1024]) {
    const rs = await collect(p, { bufferSize });
    assert.deepEqual(rs.map((r) => [r.line, r.record]), [
      [2, { q: 'a [tricky], {string} " here', n: [1, { x: 2 }] }],
      [4, { q: 'second' }],
    ]);
  }
  const bad: DataError[] = [];
  const mixed = writeText(dir, 'mixed.json', '[{"a":1}, 5, {"a":\n 2}]');
  const rs = await collect(mixed, { onBadRecord: (e) => bad.push(e) });
  assert.deepEqual(rs.map((r) => [r.line, r.record]), [
    [1, { a: 1 }],
    [1, { a: 2 }],
  ]);
  assert.equal(bad[0]!.reason, 'not-an-object');
  await assert.rejects(collect(writeText(dir, 'trunc.json', '[{"a":1},\n{"a":2}')), /unexpected end of file inside the JSON array/);
});

test('json: JSON Lines named .json, and records inside a top-level object via field', async () => {
  const lines = writeText(dir, 'lines.json', '{"a":1}\n{"a":2}\n');
  assert.deepEqual(await readAllRecords(lines), [{ a: 1 }, { a: 2 }]);
  const doc = writeText(dir, 'doc.json', '{\n "version": 2,\n "data": {"rows": [{"a": 1}, {"a": 2}]}\n}\n');
  assert.deepEqual(await readAllRecords(doc, { field: 'data.rows' }), [{ a: 1 }, { a: 2 }]);
  await assert.rejects(readAllRecords(doc), /one JSON object, not records/);
});

function rawZstd(input: Uint8Array): Uint8Array {
  // A valid zstd frame made of raw (stored) blocks: magic, single-segment header with a 4-byte size.
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0])];
  const size = Buffer.alloc(4);
  size.writeUInt32LE(input.length);
  parts.push(size);
  const max = 1 << 17;
  let off = 0;
  do {
    const n = Math.min(max, input.length - off);
    const last = off + n >= input.length ? 1 : 0;
    const h = (n << 3) | last; // block type 0 = raw
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), Buffer.from(input.subarray(off, off + n)));
    off += n;
  } while (off < input.length);
  return new Uint8Array(Buffer.concat(parts));
}

test('parquet: rows across row groups and codecs (snappy, none, gzip, zstd), INT64 and nulls made JSON-safe', async () => {
  const n = 250;
  const ids = Array.from({ length: n }, (_, i) => BigInt(i) * 10_000_000_000n);
  const texts = Array.from({ length: n }, (_, i) => (i === 7 ? null : `t${i} 中文`));
  const scores = Array.from({ length: n }, (_, i) => i / 4);
  const codecs = {
    SNAPPY: undefined,
    UNCOMPRESSED: undefined,
    GZIP: (x: Uint8Array) => new Uint8Array(gzipSync(x)),
    ZSTD: rawZstd,
  } as const;
  for (const [codec, fn] of Object.entries(codecs)) {
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: ids, type: 'INT64' },
        { name: 'text', data: texts, type: 'STRING' },
        { name: 'score', data: scores, type: 'DOUBLE' },
      ],
      codec: codec as 'SNAPPY',
      compressors: fn ? { [codec]: fn } : {},
      rowGroupSize: 64,
    });
    const p = writeText(dir, `t-${codec}.parquet`, new Uint8Array(buf));
    const rs = await collect(p);
    assert.equal(rs.length, n, codec);
    rs.forEach((r, i) => {
      assert.equal(r.line, i + 1);
      assert.deepEqual(r.record, { id: i * 10_000_000_000, text: i === 7 ? null : `t${i} 中文`, score: i / 4 }, `${codec} row ${i}`);
    });
  }
});

test('parquet: a file compressed by the real zstd tool; a broken file is a clear error', async () => {
  const rows = await readAllRecords(join(repoRoot, 'test/data/fixtures/zstd.parquet'));
  assert.deepEqual(rows, zstdFixtureRows());
  const broken = writeText(dir, 'broken.parquet', 'PAR1 this is not parquet PAR1');
  await assert.rejects(readAllRecords(broken), /broken\.parquet: not a readable parquet file/);
});

test('findSplitFiles: Hugging Face folder layouts', () => {
  const root = join(dir, 'hf');
  const files = [
    'data/train-00000-of-00002.parquet',
    'data/train-00001-of-00002.parquet',
    'data/test-00000-of-00001.parquet',
    'data/validation-00000-of-00001.parquet',
    'README.md',
  ];
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeText(root, f, '');
  }
  assert.deepEqual(findSplitFiles(root, 'train'), [join(root, files[0]!), join(root, files[1]!)]);
  assert.deepEqual(findSplitFiles(root, 'dev'), [join(root, files[3]!)]);

  const flat = join(dir, 'flat');
  mkdirSync(flat);
  for (const f of ['train.jsonl', 'dev.jsonl.gz', 'contest.jsonl', 'test.csv']) writeText(flat, f, '');
  assert.deepEqual(findSplitFiles(flat, 'validation'), [join(flat, 'dev.jsonl.gz')]);
  assert.deepEqual(findSplitFiles(flat, 'test'), [join(flat, 'test.csv')], '"contest" is not the test split');

  const configs = join(dir, 'cfg');
  for (const f of ['en/test/0000.parquet', 'en/test/0001.parquet', 'en/train/0000.parquet', 'zh/test/0000.parquet']) {
    mkdirSync(join(configs, f, '..'), { recursive: true });
    writeText(configs, f, '');
  }
  assert.deepEqual(findSplitFiles(join(configs, 'en'), 'test'), [join(configs, 'en/test/0000.parquet'), join(configs, 'en/test/0001.parquet')]);
  assert.equal(findSplitFiles(configs, 'test').length, 3);
  assert.deepEqual(findSplitFiles(configs, 'nosuchsplit'), []);
  assert.throws(() => findSplitFiles(join(dir, 'missing'), 'test'), /not a folder/);
});

test('real data: Banking77 train.csv (10,003 rows, the 77 categories) and STS-B as header-less TSV', async () => {
  const bank = await readAllRecords(join(repoRoot, 'data/banking77/train.csv'));
  assert.equal(bank.length, 10003);
  const categories = JSON.parse(readFileSync(join(repoRoot, 'data/banking77/categories.json'), 'utf8')) as unknown;
  const names = new Set(Array.isArray(categories) ? (categories as string[]) : Object.values(categories as Record<string, string>));
  assert.deepEqual(new Set(bank.map((r) => r.category)), names);
  assert.ok(bank.every((r) => typeof r.text === 'string' && (r.text as string).length > 0));

  const stsPath = join(repoRoot, 'data/stsbenchmark/sts-train.csv');
  const cols = ['genre', 'file', 'year', 'id', 'score', 'sentence1', 'sentence2'];
  const sts = await readAllRecords(stsPath, { format: 'tsv', quote: false, header: cols, onWarning: () => {} });
  // Independent reference: split the file on newlines and tabs.
  const ref = readFileSync(stsPath, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  assert.equal(sts.length, 5749);
  assert.equal(ref.length, 5749);
  sts.forEach((r, i) => {
    assert.equal(r.score, ref[i]![4]);
    assert.equal(r.sentence1, ref[i]![5]);
    assert.equal(r.sentence2, ref[i]![6]);
  });
});
