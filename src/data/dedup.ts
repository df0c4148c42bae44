// Exact and normalised deduplication of canonical records. A record's key is its type, instruction
// and the texts that make it one training example: query + positives (retrieval), text1 + text2 in
// order (pair; the swapped copy is a different example), text (cls). Negatives, scores and labels
// are not part of the key, so a second copy with other negatives or a conflicting label is dropped
// (the first one wins). Keys are 64-bit hashes kept in compact sets.
import type { Reason } from './errors.js';
import { HashSet64, hash64 } from './hashset.js';
import type { CanonicalRecord } from './records.js';

export type DedupMode = 'none' | 'exact' | 'normalized';

const PUNCT = /\p{P}+/gu;
const SPACE = /\s+/gu;

/**
 * The text used for near-duplicate keys and contamination checks: Unicode NFKC, case-folded
 * (upper then lower case, so ß → ss), punctuation removed, whitespace collapsed and trimmed.
 */
export function normalizeText(s: string): string {
  return s.normalize('NFKC').toUpperCase().toLowerCase().replace(PUNCT, '').replace(SPACE, ' ').trim();
}

function keyParts(r: CanonicalRecord, norm: (s: string) => string): string {
  const head = `${r.type}\u0001${r.instruction ?? ''}`;
  switch (r.type) {
    case 'retrieval':
      return `${head}\u0001${norm(r.query)}\u0001${r.pos.map(norm).join('\u0002')}`;
    case 'pair':
      return `${head}\u0001${norm(r.text1)}\u0001${norm(r.text2)}`;
    case 'cls':
      return `${head}\u0001${norm(r.text)}`;
  }
}

const identity = (s: string) => s;

/** The exact key string of a record (before hashing). */
export function exactKey(r: CanonicalRecord, perDataset = false): string {
  return (perDataset ? `${r.dataset ?? ''}\u0003` : '') + keyParts(r, identity);
}

/** The normalised key string of a record (before hashing). */
export function normalizedKey(r: CanonicalRecord, perDataset = false): string {
  return (perDataset ? `${r.dataset ?? ''}\u0003` : '') + keyParts(r, normalizeText);
}

export interface DedupOptions {
  mode: DedupMode;
  /** Only records of the same dataset can be duplicates (default false: pool-wide). */
  perDataset?: boolean;
}

export class Deduplicator {
  private exact = new HashSet64();
  private normalized = new HashSet64();

  constructor(readonly options: DedupOptions) {}

  /** Null when the record is new (and remembers it), else why it is a duplicate. */
  check(r: CanonicalRecord): Reason | null {
    if (this.options.mode === 'none') return null;
    const per = this.options.perDataset ?? false;
    const [eh, el] = hash64(exactKey(r, per));
    if (this.exact.has(eh, el)) return 'duplicate';
    if (this.options.mode === 'normalized') {
      const [nh, nl] = hash64(normalizedKey(r, per));
      if (!this.normalized.add(nh, nl)) return 'near-duplicate';
    }
    this.exact.add(eh, el);
    return null;
  }

  /** State for a checkpoint. */
  serialize(): Buffer {
    const a = this.exact.serialize();
    const b = this.normalized.serialize();
    const head = Buffer.alloc(8);
    head.writeUInt32LE(a.length, 0);
    head.writeUInt32LE(b.length, 4);
    return Buffer.concat([head, a, b]);
  }

  static deserialize(options: DedupOptions, buf: Buffer): Deduplicator {
    const d = new Deduplicator(options);
    const la = buf.readUInt32LE(0);
    const lb = buf.readUInt32LE(4);
    if (8 + la + lb !== buf.length) throw new Error('corrupt dedup checkpoint');
    d.exact = HashSet64.deserialize(buf.subarray(8, 8 + la));
    d.normalized = HashSet64.deserialize(buf.subarray(8 + la));
    return d;
  }
}
