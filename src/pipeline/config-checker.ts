// Validation helpers for the pipeline config: every problem is collected (not just the first) and
// reported as `file:line:column: field.path: problem`, with a "did you mean" hint for unknown keys.
import { statSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isScalar, type Document } from 'yaml';
import { closestKey } from '../util/suggest.js';
import { formatPath } from '../train/config.js';

// The trainer's path format: overrides are recorded (applyOverrides) and matched (overrideSource) by it.
export { formatPath };

export type PathSeg = string | number;

export interface ConfigIssue {
  /** "file:line:column", "--set …" or the file name. */
  where: string;
  /** Field path, e.g. "sources.stsb.input" ("(root)" for the document). */
  path: string;
  message: string;
}

export class PipelineConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.where}: ${i.path}: ${i.message}`).join('\n'));
    this.name = 'PipelineConfigError';
    this.issues = issues;
  }
}


/** A parsed YAML/JSON document that can say where a field path is. */
export class LocatedDocument {
  private constructor(
    readonly file: string,
    readonly value: unknown,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  static parse(text: string, file: string): LocatedDocument {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      throw new PipelineConfigError(
        doc.errors.map((e) => {
          const { line, col } = lines.linePos(e.pos[0]);
          return { where: `${file}:${line}:${col}`, path: '(root)', message: `invalid YAML: ${e.message.split('\n')[0]}` };
        }),
      );
    }
    return new LocatedDocument(file, doc.toJS(), doc, lines);
  }

  /** "file:line:col" of the field (its key when `atKey`), or of the closest existing parent. */
  locate(path: readonly PathSeg[], atKey = false): string {
    const offset = this.offsetOf(path, atKey);
    if (offset === undefined) return this.file;
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  private offsetOf(path: readonly PathSeg[], atKey: boolean): number | undefined {
    if (path.length === 0) return this.doc.contents?.range?.[0];
    if (atKey) {
      const parent = path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[path.length - 1]));
        const r = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
        if (r) return r[0];
      }
    }
    const node = this.doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return node.range[0];
    return this.offsetOf(path.slice(0, -1), false);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

export class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(readonly locate: (path: readonly PathSeg[], atKey: boolean) => string) {}

  fail(path: readonly PathSeg[], message: string, atKey = false): undefined {
    this.issues.push({ where: this.locate(path, atKey), path: formatPath(path), message });
    return undefined;
  }

  object(v: unknown, path: readonly PathSeg[]): Record<string, unknown> | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return this.fail(path, `expected a mapping of fields, got ${describe(v)}`);
    return v as Record<string, unknown>;
  }

  keys(obj: Record<string, unknown>, path: readonly PathSeg[], allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const hint = closestKey(k, allowed);
      this.fail([...path, k], hint ? `unknown field (did you mean "${hint}"?)` : `unknown field; known fields: ${allowed.join(', ')}`, true);
    }
  }

  number(v: unknown, path: readonly PathSeg[], rule: { min?: number; max?: number; minExclusive?: boolean; integer?: boolean } = {}): number | undefined {
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(path, `expected ${rule.integer ? 'an integer' : 'a number'}, got ${describe(v)}`);
    if (rule.integer && !Number.isSafeInteger(v)) return this.fail(path, `expected an integer, got ${v}`);
    if (rule.min !== undefined && (rule.minExclusive ? v <= rule.min : v < rule.min)) return this.fail(path, `must be ${rule.minExclusive ? '>' : '≥'} ${rule.min}, got ${v}`);
    if (rule.max !== undefined && v > rule.max) return this.fail(path, `must be ≤ ${rule.max}, got ${v}`);
    return v;
  }

  string(v: unknown, path: readonly PathSeg[]): string | undefined {
    if (typeof v !== 'string') return this.fail(path, `expected a string, got ${describe(v)}`);
    if (v.trim() === '') return this.fail(path, 'must not be empty');
    return v;
  }

  boolean(v: unknown, path: readonly PathSeg[]): boolean | undefined {
    if (typeof v !== 'boolean') return this.fail(path, `expected true or false, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, path: readonly PathSeg[], options: readonly T[]): T | undefined {
    if (typeof v !== 'string' || !options.includes(v as T)) return this.fail(path, `expected one of ${options.map((o) => `"${o}"`).join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  /** A string or a list of strings, as a list. */
  stringList(v: unknown, path: readonly PathSeg[]): string[] | undefined {
    if (typeof v === 'string') return this.string(v, path) === undefined ? undefined : [v];
    if (!Array.isArray(v)) return this.fail(path, `expected a string or a list of strings, got ${describe(v)}`);
    if (v.length === 0) return this.fail(path, 'must not be empty');
    const out: string[] = [];
    let ok = true;
    v.forEach((x, i) => {
      const s = this.string(x, [...path, i]);
      if (s === undefined) ok = false;
      else out.push(s);
    });
    return ok ? out : undefined;
  }

  exists(p: string, path: readonly PathSeg[], kind: 'file' | 'dir' | 'any'): boolean {
    let st;
    try {
      st = statSync(p);
    } catch {
      this.fail(path, `${p} does not exist`);
      return false;
    }
    if (kind === 'file' && !st.isFile()) return this.fail(path, `${p} is not a file`) ?? false;
    if (kind === 'dir' && !st.isDirectory()) return this.fail(path, `${p} is not a directory`) ?? false;
    return true;
  }
}
