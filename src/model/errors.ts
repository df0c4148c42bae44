// One error type for everything that is wrong with a checkpoint on disk, so that callers (and the CLI)
// can show a single line that names the file and the field at fault.

export class CheckpointError extends Error {
  /** The file at fault (as given, usually absolute). */
  readonly file: string;
  /** The field, tensor or byte range at fault, e.g. `num_attention_heads`, `tensor "x".data_offsets`. */
  readonly field: string | undefined;

  constructor(file: string, field: string | undefined, message: string) {
    super(field ? `${file}: ${field}: ${message}` : `${file}: ${message}`);
    this.name = 'CheckpointError';
    this.file = file;
    this.field = field;
  }
}
