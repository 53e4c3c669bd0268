import { open } from 'node:fs/promises';

/** How much of a file is sampled: enough to meet the first accented name in any realistic extract. */
const SAMPLE_BYTES = 4 * 1024 * 1024;

/**
 * A file declared Latin-1 whose bytes are valid UTF-8 with non-ASCII characters is almost surely UTF-8: Latin-1
 * text with accents is almost never valid UTF-8 by accident. Read as Latin-1 it would be stored garbled
 * ('José' → 'JosÃ©') without any error, so the run says so. Returns one example word both ways, or undefined when
 * the sample is plain ASCII or not valid UTF-8 (then Latin-1 is a reasonable reading).
 */
export async function utf8ReadAsLatin1(path: string): Promise<{ utf8: string; latin1: string } | undefined> {
  const handle = await open(path, 'r');
  let sample: Buffer;
  try {
    const buffer = Buffer.alloc(SAMPLE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SAMPLE_BYTES, 0);
    sample = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const first = sample.findIndex((b) => b >= 0x80);
  if (first === -1) return undefined;
  try {
    // stream: true tolerates a character cut at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(sample, { stream: true });
  } catch {
    return undefined;
  }
  // The word around the first non-ASCII byte, as the user wrote it and as Latin-1 would store it.
  const isWordByte = (b: number): boolean => b >= 0x80 || /[\p{L}\p{N}'-]/u.test(String.fromCharCode(b));
  let start = first;
  while (start > 0 && isWordByte(sample[start - 1] as number)) start--;
  let end = first;
  while (end < sample.length && end - start < 40 && isWordByte(sample[end] as number)) end++;
  const word = sample.subarray(start, end);
  return { utf8: new TextDecoder('utf-8').decode(word), latin1: word.toString('latin1') };
}
