// Content fingerprints for the step runner: a step is skipped only when its inputs (source files by
// content, upstream steps' outputs by digest, its own settings) are what they were when it completed.
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** JSON with object keys sorted, so equal values give equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** sha256 of a value's canonical JSON. */
export function digestOf(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** Files larger than this are identified by size and modification time instead of a full hash. */
export const HASH_LIMIT_BYTES = 256 * 1024 * 1024;

/** sha256 of a file's bytes, streamed. */
export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface FileEntry {
  /** Path relative to the folder it was listed from, with forward slashes. */
  path: string;
  size: number;
  /** sha256 of the content, or `size:mtime` for files over HASH_LIMIT_BYTES. */
  hash: string;
}

/** Identity of one file: its content hash (or size and mtime when very large). */
export async function fileIdentity(path: string): Promise<{ size: number; hash: string }> {
  const st = statSync(path);
  if (st.size > HASH_LIMIT_BYTES) return { size: st.size, hash: `size-mtime:${st.size}:${Math.round(st.mtimeMs)}` };
  return { size: st.size, hash: await hashFile(path) };
}

/** Every regular file under `root` (or `root` itself when it is a file), sorted, hidden files included. */
export function listFiles(root: string): string[] {
  const st = statSync(root);
  if (st.isFile()) return [root];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** Identities of the given files/folders (folders expanded), paths relative to `base`. */
export async function describeOutputs(base: string, paths: readonly string[]): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for (const p of paths) {
    for (const f of listFiles(join(base, p))) {
      const { size, hash } = await fileIdentity(f);
      out.push({ path: relative(base, f).split(sep).join('/'), size, hash });
    }
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
