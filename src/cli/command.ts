// The shape every `qzhou <name>` subcommand module exports, plus a small argv parser on top of
// node:util parseArgs that turns unknown flags and missing values into messages naming the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { outputPathProblem, samePath, tryStat } from '../util/paths.js';

type ParsedFlags<O extends Options> = ReturnType<typeof parseArgs<{ options: O & { help: { type: 'boolean'; short: 'h' } }; allowPositionals: boolean; strict: true }>>;

export interface Command {
  name: string;
  /** One line for `qzhou --help`. */
  summary: string;
  /** Full usage text for `qzhou <name> --help`. */
  usage: string;
  /** Usage text of each subcommand, for `qzhou <name> <sub> --help` (commands with subcommands). */
  subcommandUsage?: Record<string, string>;
  /** Runs with the arguments after the subcommand name; returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** An error whose message is shown to the user as is (no stack trace), with exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses flags; `--help` is always accepted. Throws UsageError naming the offending flag. */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = false): ParsedFlags<O> {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
  } catch (e) {
    const message = (e as Error).message;
    // `--threads -1`: node:util reads "-1" as another option; say so in one line, with the way out.
    const ambiguous = /^Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument is ambiguous/.exec(message);
    if (ambiguous) {
      const flag = ambiguous[1]!;
      const next = argv[argv.indexOf(flag) + 1];
      throw new UsageError(`${flag}: missing value${next !== undefined ? ` ("${next}" reads as an option; for a value that starts with "-", write ${flag}=${next})` : ''}`);
    }
    throw new UsageError(message.split('\n').map((l) => l.trim()).filter(Boolean).join(' '));
  }
}

/** Reads a numeric flag value with a clear error. */
export function numberFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name}: expected a number, got "${value}"`);
  return n;
}

/** Reads an integer flag ≥ min (default 1), or the fallback when absent. */
export function intFlag(name: string, value: string | undefined, fallback: number, min = 1): number {
  const n = numberFlag(name, value, fallback);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got "${value}"`);
  return n;
}

/** Reads an integer flag ≥ min (default 1), or undefined when absent. */
export function optionalIntFlag(name: string, value: string | undefined, min = 1): number | undefined {
  return value === undefined ? undefined : intFlag(name, value, 0, min);
}

/** Requires a string flag. */
export function requireFlag(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** Requires a flag naming an existing file (not a folder). */
export function inputFileFlag(name: string, value: string | undefined): string {
  const path = requireFlag(name, value);
  const st = tryStat(path);
  if (!st) throw new UsageError(`--${name} ${path}: no such file`);
  if (st.isDirectory()) throw new UsageError(`--${name} ${path}: is a folder; give a file`);
  return path;
}

/**
 * Requires an output flag and checks, before any work is done, that the path can be written as a file
 * (kind 'file', default) or a folder, and that it is none of `inputs` (writing it would destroy an input).
 */
export function outputFlag(name: string, value: string | undefined, opts: { kind?: 'file' | 'folder'; inputs?: readonly (string | undefined)[] } = {}): string {
  const path = requireFlag(name, value);
  checkOutputPath(`--${name}`, path, opts);
  return path;
}

/** outputFlag's checks for a path that did not come from a flag (`label` names where it came from). */
export function checkOutputPath(label: string, path: string, opts: { kind?: 'file' | 'folder'; inputs?: readonly (string | undefined)[] } = {}): void {
  const problem = outputPathProblem(path, opts.kind ?? 'file');
  if (problem) throw new UsageError(`${label} ${path}: ${problem}`);
  for (const input of opts.inputs ?? []) {
    if (input !== undefined && samePath(input, path)) throw new UsageError(`${label} ${path}: is also an input (${input}); writing it would destroy the input, choose another path`);
  }
}
