// The shape every `qzhou <name>` subcommand module exports, plus a small argv parser on top of
// node:util parseArgs that turns unknown flags and missing values into messages naming the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';

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
    throw new UsageError((e as Error).message);
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
