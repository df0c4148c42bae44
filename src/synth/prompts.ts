// Prompt templates: editable YAML files shipped in src/synth/prompts/ (found from the package root,
// so the same files serve `tsx src/…` and the compiled dist/), or a user folder given with
// --prompts. A template has `name`, `version`, `system` and `user`; `{{variable}}` placeholders are
// filled per request, and a placeholder the generator does not provide is an error naming the file
// and line when the template is loaded.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { sha256Hex } from './canonical-json.js';
import type { ChatMessage } from './llm-client.js';

export interface PromptTemplate {
  name: string;
  version: string;
  /** "<name>@<version>", recorded in provenance and part of every cache key. */
  id: string;
  /** First 12 hex digits of sha256 of the file. */
  hash: string;
  file: string;
  system: string;
  user: string;
}

/** The package root: the nearest folder above `from` whose package.json is named "qzhou". */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'qzhou') return dir;
      } catch {
        // unreadable package.json: keep looking upwards
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the qzhou package root above ${from}`);
    dir = up;
  }
}

/** Folder of the shipped templates. */
export function defaultPromptsDir(from?: string): string {
  return join(packageRoot(from), 'src', 'synth', 'prompts');
}

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;

function lineOf(raw: string, needle: string): number {
  const at = raw.indexOf(needle);
  return at < 0 ? 1 : raw.slice(0, at).split('\n').length;
}

/**
 * Loads `<dir>/<name>.yaml` and checks that it only uses `allowed` placeholders. Errors name the
 * file and line.
 */
export function loadTemplate(name: string, allowed: readonly string[], dir?: string): PromptTemplate {
  const folder = resolve(dir ?? defaultPromptsDir());
  const file = join(folder, `${name}.yaml`);
  if (!existsSync(file)) throw new Error(`prompt template ${file} not found${dir ? '' : ' (the package files are incomplete)'}`);
  const raw = readFileSync(file, 'utf8');
  let doc: unknown;
  try {
    doc = parseYaml(raw);
  } catch (e) {
    const linePos = (e as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new Error(`${file}:${linePos ?? 1}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}:1: expected a YAML mapping with name, version, system and user`);
  const d = doc as Record<string, unknown>;
  for (const field of ['system', 'user'] as const) {
    if (typeof d[field] !== 'string' || (d[field] as string).trim() === '') throw new Error(`${file}:${lineOf(raw, `${field}:`)}: ${field}: expected a non-empty string`);
  }
  const version = d.version;
  if (typeof version !== 'string' && typeof version !== 'number') throw new Error(`${file}:${lineOf(raw, 'version:')}: version: expected a string or number`);
  const tplName = typeof d.name === 'string' ? d.name : name;
  const allowedSet = new Set(allowed);
  for (const field of ['system', 'user'] as const) {
    for (const m of (d[field] as string).matchAll(PLACEHOLDER)) {
      if (!allowedSet.has(m[1]!)) {
        throw new Error(`${file}:${lineOf(raw, m[0])}: ${field}: unknown placeholder {{${m[1]}}} (this template can use: ${[...allowed].sort().join(', ')})`);
      }
    }
  }
  return {
    name: tplName,
    version: String(version),
    id: `${tplName}@${version}`,
    hash: sha256Hex(raw).slice(0, 12),
    file,
    system: d.system as string,
    user: d.user as string,
  };
}

/** Fills the placeholders; every placeholder must have a value. */
export function renderTemplate(t: PromptTemplate, vars: Readonly<Record<string, string | number>>): ChatMessage[] {
  const fill = (text: string) =>
    text.replace(PLACEHOLDER, (_, key: string) => {
      const v = vars[key];
      if (v === undefined) throw new Error(`${t.file}: no value for {{${key}}}`);
      return String(v);
    });
  // Empty optional sections (e.g. {{feedback}} on the first try) leave no blank-line runs behind.
  const tidy = (s: string) => s.replace(/\n{3,}/g, '\n\n').trim();
  return [
    { role: 'system', content: tidy(fill(t.system)) },
    { role: 'user', content: tidy(fill(t.user)) },
  ];
}
