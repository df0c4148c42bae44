// On-disk cache of LLM answers, keyed by sha256 of (model, messages, params, prompt version,
// attempt): a rerun or a crash-restart never pays twice for the same request. One append-only
// JSONL file (one line per answer, written as soon as the answer arrives); in memory only
// key → byte offset is kept (≤ 32 bytes per entry), answers are read back from disk on a hit.
import { open, type FileHandle } from 'node:fs/promises';
import { AppendLog, readLines } from './append-log.js';
import { acquireLock } from './file-lock.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';

export interface CachedAnswer {
  content: string;
  finishReason: string | null;
  /** Model name the endpoint reported. */
  model: string;
  usage?: { promptTokens: number; completionTokens: number };
}

interface CacheLine {
  key: string;
  model: string;
  content: string;
  finish_reason: string | null;
  usage?: { prompt_tokens: number; completion_tokens: number };
  created: string;
}

/** The cache key of a request: sha256 of the canonical JSON of everything that shapes the answer. */
export function requestKey(material: { model: string; messages: unknown; params: unknown; tag?: unknown }): string {
  return sha256Hex(canonicalJson({ v: 1, ...material }));
}

/**
 * key → byte offset with open addressing over typed arrays (24 bytes a slot, load ≤ 0.75), keyed
 * by the first 64 bits of the sha256 key; the full key is checked when the line is read back.
 */
class OffsetIndex {
  private keys = new Uint32Array(2 * 1024);
  private offsets = new Float64Array(1024);
  private mask = 1023;
  size = 0;

  private static split(key: string): [number, number] {
    // A zero key marks an empty slot; sha256 prefixes of all zeros are remapped (and checked on read).
    const hi = parseInt(key.slice(0, 8), 16) >>> 0;
    const lo = parseInt(key.slice(8, 16), 16) >>> 0;
    return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
  }

  private slot(hi: number, lo: number): number {
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const a = this.keys[2 * i]!;
      const b = this.keys[2 * i + 1]!;
      if ((a === 0 && b === 0) || (a === hi && b === lo)) return i;
      i = (i + 1) & this.mask;
    }
  }

  get(key: string): number | undefined {
    const [hi, lo] = OffsetIndex.split(key);
    const i = this.slot(hi, lo);
    return this.keys[2 * i] === 0 && this.keys[2 * i + 1] === 0 ? undefined : this.offsets[i];
  }

  set(key: string, offset: number): void {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const [hi, lo] = OffsetIndex.split(key);
    const i = this.slot(hi, lo);
    if (this.keys[2 * i] === 0 && this.keys[2 * i + 1] === 0) this.size++;
    this.keys[2 * i] = hi;
    this.keys[2 * i + 1] = lo;
    this.offsets[i] = offset;
  }

  private grow(): void {
    const { keys, offsets } = this;
    const cap = (this.mask + 1) * 2;
    this.keys = new Uint32Array(2 * cap);
    this.offsets = new Float64Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < offsets.length; j++) {
      const hi = keys[2 * j]!;
      const lo = keys[2 * j + 1]!;
      if (hi === 0 && lo === 0) continue;
      const i = this.slot(hi, lo);
      this.keys[2 * i] = hi;
      this.keys[2 * i + 1] = lo;
      this.offsets[i] = offsets[j]!;
    }
  }
}

export class ResponseCache {
  private readonly index = new OffsetIndex();
  /** Lines that could not be parsed when the file was opened (skipped). */
  skippedLines = 0;

  private constructor(
    readonly path: string,
    private readonly log: AppendLog,
    private readonly reader: FileHandle,
    private readonly release: () => void,
  ) {}

  static async open(path: string): Promise<ResponseCache> {
    const release = acquireLock(`${path}.lock`, `the LLM response cache ${path}`);
    try {
      const log = await AppendLog.open(path, { fsyncEvery: 32, fsyncIntervalMs: 1000 });
      const reader = await open(path, 'r');
      const cache = new ResponseCache(path, log, reader, release);
      for await (const { text, offset } of readLines(path)) {
        const key = /^\{"key":"([0-9a-f]{64})"/.exec(text)?.[1];
        if (key) cache.index.set(key, offset);
        else cache.skippedLines++;
      }
      return cache;
    } catch (e) {
      release();
      throw e;
    }
  }

  get size(): number {
    return this.index.size;
  }

  /** Whether an answer for `key` is (very probably: 64-bit prefix) cached; `get` is exact. */
  has(key: string): boolean {
    return this.index.get(key) !== undefined;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const offset = this.index.get(key);
    if (offset === undefined) return undefined;
    const text = await this.readLineAt(offset);
    const line = JSON.parse(text) as CacheLine;
    if (line.key !== key) return undefined; // a 64-bit prefix collision: not this request's answer
    return {
      content: line.content,
      finishReason: line.finish_reason,
      model: line.model,
      usage: line.usage ? { promptTokens: line.usage.prompt_tokens, completionTokens: line.usage.completion_tokens } : undefined,
    };
  }

  async put(key: string, answer: CachedAnswer): Promise<void> {
    const at = this.index.get(key);
    if (at !== undefined && JSON.parse(await this.readLineAt(at)).key === key) return;
    const line: CacheLine = {
      key,
      model: answer.model,
      content: answer.content,
      finish_reason: answer.finishReason,
      ...(answer.usage ? { usage: { prompt_tokens: answer.usage.promptTokens, completion_tokens: answer.usage.completionTokens } } : {}),
      created: new Date().toISOString(),
    };
    const offset = await this.log.append(`${JSON.stringify(line)}\n`);
    this.index.set(key, offset);
  }

  async close(): Promise<void> {
    try {
      await this.log.close();
      await this.reader.close();
    } finally {
      this.release();
    }
  }

  private async readLineAt(offset: number): Promise<string> {
    const parts: Buffer[] = [];
    let pos = offset;
    let size = 16 * 1024;
    for (;;) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await this.reader.read(buf, 0, size, pos);
      if (bytesRead === 0) throw new Error(`${this.path}: cache entry at byte ${offset} is cut short`);
      const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
      if (nl >= 0) {
        parts.push(buf.subarray(0, nl));
        return Buffer.concat(parts).toString('utf8');
      }
      parts.push(buf.subarray(0, bytesRead));
      pos += bytesRead;
      size = Math.min(size * 2, 4 << 20);
    }
  }
}

/** The keys of a cache file, read without locking or writing it (for --dry-run). */
export async function readCacheKeys(path: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const { text } of readLines(path)) {
    const key = /^\{"key":"([0-9a-f]{64})"/.exec(text)?.[1];
    if (key) keys.add(key);
  }
  return keys;
}
