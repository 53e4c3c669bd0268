import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvPartWriter, type CsvPart } from '../src/sources/csv-parts.js';
import { csvField } from '../src/sources/database-extractor.js';
import { scanCsv } from '../src/sources/csv-record-scanner.js';
import { tempDir } from './helpers/temp-project.js';

const DIALECT = { quote: '"', escape: '"', delimiter: ',', encoding: 'utf-8' } as const;
const dir = tempDir('refinery-parts-');
let n = 0;

/** Feeds `chunks` through a CsvPartWriter; returns the parts as handed over, with their bytes read at that moment. */
async function split(chunks: Buffer[], partBytes: number): Promise<{ parts: CsvPart[]; contents: Buffer[] }> {
  const parts: CsvPart[] = [];
  const contents: Buffer[] = [];
  const writer = new CsvPartWriter(join(dir, `x${n++}.csv`), {
    partBytes,
    onPart: (part) => {
      parts.push(part);
      // Handed over means complete on disk: what a reader sees now is the whole part.
      contents.push(readFileSync(part.path));
      expect(statSync(part.path).size).toBe(part.bytes);
    },
  });
  await pipeline(Readable.from(chunks), writer);
  return { parts, contents };
}

function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...at, bytes.length]) {
    if (cut > from) chunks.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return chunks;
}

describe('CSV part writer', () => {
  it('cuts only between records, starts every part with the header, and loses or repeats no byte', async () => {
    const value = fc.string({ unit: fc.constantFrom('a', 'é', ',', '"', '\n', '\r', ' ', '\\'), maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(value, value), { minLength: 0, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 120 }),
        async (records, cuts, partBytes) => {
          const header = 'id,"na""me"\n';
          const body = records.map(([a, b], i) => `${i},${csvField(a)},${csvField(b)}\n`).join('');
          const input = Buffer.from(header + body);
          const { parts, contents } = await split(chunked(input, cuts), partBytes);

          expect(parts.map((p) => p.index)).toEqual(parts.map((_, i) => i));
          expect(parts.length).toBeGreaterThan(0);
          const headerBytes = Buffer.from(header);
          for (const content of contents) expect(content.subarray(0, headerBytes.length).equals(headerBytes)).toBe(true);
          const joined = Buffer.concat([contents[0] as Buffer, ...contents.slice(1).map((c) => c.subarray(headerBytes.length))]);
          expect(joined.equals(input)).toBe(true);

          // Each part on its own is well-formed CSV holding whole records, and together they hold every record.
          let total = 0;
          for (const part of parts) {
            const scan = await scanCsv(part.path, DIALECT);
            expect(scan.header).toEqual(['id', 'na"me']);
            expect(scan.unterminatedQuote).toBeUndefined();
            total += scan.records;
          }
          expect(total).toBe(records.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('makes parts of about the size asked for, cut at the first record end past it', async () => {
    const header = 'id,name\n';
    const body = Array.from({ length: 1000 }, (_, i) => `${i},"customer ""${i}""\nsecond line"\n`).join('');
    const input = Buffer.from(header + body);
    const { parts, contents } = await split(chunked(input, [7, 100, 5000, 5001, 20000]), 4096);
    expect(parts.length).toBeGreaterThan(5);
    for (const [i, part] of parts.entries()) {
      // Every part but the last reaches the size (its header included), and overshoots it by less than one record.
      if (i < parts.length - 1) expect(part.bytes).toBeGreaterThan(4096);
      expect(part.bytes).toBeLessThan(4096 + 40);
      expect((contents[i] as Buffer).at(-1)).toBe(0x0a);
    }
  });

  it('fails the stream, not the process, when a part cannot be written', async () => {
    const writer = new CsvPartWriter(join(dir, 'no-such-dir', 'x.csv'), { partBytes: 4, onPart: () => undefined });
    await expect(pipeline(Readable.from([Buffer.from('id\n1\n2\n3\n')]), writer)).rejects.toThrow(/ENOENT/);
  });

  it('once destroyed, hands on no part and opens no file: when it closes, every file it made is in paths', async () => {
    const base = join(dir, 'stopped.csv');
    const handed: number[] = [];
    const writer: CsvPartWriter = new CsvPartWriter(base, {
      partBytes: 64,
      // What a failed staging does: stop the writer from inside the callback, while the rest is still arriving.
      onPart: (part) => {
        handed.push(part.index);
        if (part.index === 1) writer.destroy(new Error('staging failed'));
      },
    });
    const rows = Buffer.from(`id,name\n${Array.from({ length: 400 }, (_, i) => `${i},name ${i}`).join('\n')}\n`);
    await expect(pipeline(Readable.from(chunked(rows, [100, 1000, 2000, 3000, 4000])), writer)).rejects.toThrow('staging failed');
    if (!writer.closed) await new Promise((resolve) => writer.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(handed).toEqual([0, 1]);
    const made = readdirSync(dir).filter((f) => f.startsWith('stopped.csv.')).map((f) => join(dir, f));
    expect(made.length).toBeGreaterThan(0);
    expect(made.filter((f) => !writer.paths.includes(f))).toEqual([]);
  });

  it('waits for a full part file to drain without piling up listeners on it', async () => {
    // 32 KB writes into one big part: every write fills the file stream's buffer, so every one waits for 'drain'.
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const record = `${'x'.repeat(32 * 1024 - 1)}\n`;
      const { parts } = await split([Buffer.from('v\n'), ...Array.from({ length: 40 }, () => Buffer.from(record))], 16 << 20);
      expect(parts.map((p) => p.bytes)).toEqual([2 + 40 * 32 * 1024]);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('gives one part holding the header when there are no records, or nothing at all', async () => {
    const headerOnly = await split([Buffer.from('id,name\n')], 10);
    expect(headerOnly.contents.map((c) => c.toString())).toEqual(['id,name\n']);
    const empty = await split([], 10);
    expect(empty.contents.map((c) => c.toString())).toEqual(['']);
  });
});
