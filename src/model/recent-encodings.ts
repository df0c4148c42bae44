// Token ids of texts that were just counted, kept for the embed() that usually follows: the server counts
// every input (token budget, length limits) and then embeds the same texts, and tokenising twice cost it
// about a tenth of its per-request time with small models. Bounded by entries and ids; oldest dropped first.

export class RecentEncodings {
  private readonly byText = new Map<string, readonly number[]>();
  private ids = 0;

  constructor(
    private readonly maxEntries = 16384,
    private readonly maxIds = 1 << 20,
  ) {}

  get size(): number {
    return this.byText.size;
  }

  put(text: string, ids: readonly number[]): void {
    if (ids.length > this.maxIds) return;
    this.drop(text);
    while (this.byText.size >= this.maxEntries || this.ids + ids.length > this.maxIds) this.drop(this.byText.keys().next().value!);
    this.byText.set(text, ids);
    this.ids += ids.length;
  }

  /** The ids recorded for this text, removed from the store; undefined when absent. */
  take(text: string): readonly number[] | undefined {
    const ids = this.byText.get(text);
    if (ids) this.drop(text);
    return ids;
  }

  private drop(text: string): void {
    const old = this.byText.get(text);
    if (!old) return;
    this.byText.delete(text);
    this.ids -= old.length;
  }
}
