import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { glob } from 'tinyglobby';

/**
 * Landing files matching a source's glob, as paths relative to the project, in lexical (code point) order —
 * the order files are ingested in, and the tie-break "later file" in dedupe.
 */
export async function listLandingFiles(projectDir: string, pattern: string): Promise<string[]> {
  const files = await glob(pattern, { cwd: projectDir, onlyFiles: true, dot: false, expandDirectories: false });
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
