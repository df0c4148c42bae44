// The Embedder interface: what evaluation, training, mining and serving depend on.
// The Hugging Face checkpoint runtime (src/model) implements it; so can a remote
// OpenAI-compatible endpoint (src/eval) or a test double.

/** Which side of an asymmetric task a text is on. mteb calls these prompt types `query` / `passage`. */
export type TextKind = 'query' | 'document';

export interface EmbedRequest {
  /**
   * A task name from the instruction table (src/model/instructions.ts), e.g. "Banking77Classification".
   * The table gives the instruction and its sides: queries always get it; documents get it only
   * for tasks whose instruction goes on both sides. Ignored when `instruction` is given.
   */
  task?: string;
  /** An explicit instruction, put (as the model's prompt template) in front of every text of this call. */
  instruction?: string;
  /** Default 'query'. */
  kind?: TextKind;
  /** Called as batches finish: (texts done, texts total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * What to do with a text longer than the model's max length (instruction included):
   * true (default, as sentence-transformers) cuts it from the right; false throws an error that
   * names the text's index and token count.
   */
  truncate?: boolean;
}

export interface Embedder {
  /** Stable identity of the model (for embedding caches and result folders). */
  readonly id: string;
  /** Embedding width. */
  readonly dim: number;
  /** Max tokens per text, instruction included; longer texts are truncated from the right. */
  readonly maxLength: number;
  /** One L2-normalised vector per text, in input order. */
  embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]>;
  /** Tokens per text after the instruction prefix is applied, before truncation. */
  countTokens(texts: readonly string[], request?: EmbedRequest): number[];
  /** Embeds already-tokenised inputs (no instruction is added). Optional. */
  embedTokenIds?(ids: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** Frees sessions and native memory. */
  close?(): Promise<void>;
}
