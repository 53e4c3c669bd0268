import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanCsv, type RecordPosition } from '../src/sources/csv-record-scanner.js';
import { tempDir } from './helpers/temp-project.js';

const DIALECT = { quote: '"', escape: '"', delimiter: ',', encoding: 'utf-8' } as const;
const dir = tempDir('refinery-scan-');
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `f${n++}.csv`);
  writeFileSync(path, content);
  return path;
}

describe('csv record scanner', () => {
  it('counts records, not lines: quoted line breaks, escaped quotes, blank lines, CRLF and a BOM', async () => {
    const content = '\ufeffid,"na,me"\r\n1,"a\r\nb"\r\n\r\n2,"say ""hi"""\r\n3,x"y\r\n4,last';
    const positions: RecordPosition[] = [];
    const scan = await scanCsv(file(content), DIALECT, (p) => positions.push(p));
    expect(scan.header).toEqual(['id', 'na,me']);
    expect(scan.records).toBe(4);
    expect(scan.unterminatedQuote).toBeUndefined();
    expect(positions.map((p) => [p.record, p.line])).toEqual([
      [1, 2],
      [2, 5],
      [3, 6],
      [4, 7],
    ]);
    expect(scan.sha256).toBe(createHash('sha256').update(content).digest('hex'));
  });

  it('reports where a quote opens and never closes', async () => {
    const scan = await scanCsv(file('id,name\n1,ok\n2,"never closed\n3,x\n'), DIALECT);
    expect(scan.unterminatedQuote).toEqual({ line: 3, offset: 13 });
  });

  it('handles an empty file, a header without a newline and a different escape character', async () => {
    expect(await scanCsv(file(''), DIALECT)).toMatchObject({ header: undefined, records: 0, bytes: 0 });
    expect(await scanCsv(file('a,b'), DIALECT)).toMatchObject({ header: ['a', 'b'], records: 0 });
    const backslash = await scanCsv(file('a,b\n1,"x\\"y"\n2,z\n'), { ...DIALECT, escape: '\\' });
    expect(backslash.records).toBe(2);
  });

  it('agrees with a simple reference parser on random CSV, whatever the chunk boundaries', async () => {
    const field = fc.oneof(fc.stringMatching(/^[a-z ]{0,5}$/), fc.string({ maxLength: 5 }).map((s) => `"${s.replaceAll('"', '""')}"`));
    const record = fc.array(field, { minLength: 1, maxLength: 4 }).map((fs) => fs.join(','));
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), async (records, eol) => {
        const nonBlank = records.filter((r) => r !== '');
        const content = ['h1,h2', ...records].join(eol) + eol;
        const scan = await scanCsv(file(content), DIALECT);
        expect(scan.records).toBe(nonBlank.length);
      }),
      { numRuns: 200 },
    );
  });

  it('counts the same across 4 MiB chunk boundaries', async () => {
    const row = '12345,"quoted, with ""escapes""\nand a line break",tail\n';
    const rows = Math.ceil((9 * 1024 * 1024) / row.length);
    const scan = await scanCsv(file(`a,b,c\n${row.repeat(rows)}`), DIALECT);
    expect(scan.records).toBe(rows);
  });
});
