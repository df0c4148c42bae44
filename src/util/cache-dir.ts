// The cache folder every area shares (ORT model files, converted weights, embeddings): $QZHOU_CACHE, else
// ~/.cache/qzhou (the temp folder when there is no home directory).
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export function defaultCacheDir(): string {
  return process.env.QZHOU_CACHE ?? join(homedir() || tmpdir(), '.cache', 'qzhou');
}
