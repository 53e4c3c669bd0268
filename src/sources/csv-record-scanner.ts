import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * One streaming pass over a CSV file that hashes its bytes and counts its records independently of the engine.
 *
 * Why it exists: DuckDB's CSV reader can silently drop the rest of a file after a quote that never closes.
 * Refinery promises that nothing is lost, so every staged file is reconciled: rows the engine parsed plus rows it
 * rejected must equal the records counted here, or the file is refused. The scan jumps between quote and newline
 * bytes with `indexOf` (native memchr) rather than visiting every byte, and shares its single read with the
 * content hash the ingest needs anyway.
 */
export interface CsvDialectBytes {
  readonly quote: string;
  readonly escape: string;
  readonly delimiter: string;
  readonly encoding: 'utf-8' | 'latin-1';
}

export interface CsvScan {
  readonly sha256: string;
  readonly bytes: number;
  /** Header fields, BOM removed; undefined for an empty file. */
  readonly header: string[] | undefined;
  /** Data records after the header (blank lines are not records). */
  readonly records: number;
  /** Set when a quoted value opens and never closes: where it opens. */
  readonly unterminatedQuote?: { readonly line: number; readonly offset: number };
}

export interface RecordPosition {
  /** 1-based data record number (header excluded). */
  readonly record: number;
  /** 1-based physical line where the record starts. */
  readonly line: number;
  readonly offset: number;
  /** Offset just past the record's last byte (its newline). */
  readonly end: number;
}

const NL = 10;
const CR = 13;

export async function scanCsv(
  path: string,
  dialect: CsvDialectBytes,
  onRecord?: (position: RecordPosition) => void,
): Promise<CsvScan> {
  const quote = dialect.quote.charCodeAt(0);
  const escape = dialect.escape.charCodeAt(0);
  const delimiter = dialect.delimiter.charCodeAt(0);
  const hash = createHash('sha256');

  let offsetBase = 0; // file offset of the current chunk's first byte
  let inQuoted = false;
  let quotePending = false; // saw a quote inside a quoted value as the chunk's last byte
  let escapePending = false; // saw the (non-quote) escape byte as the chunk's last byte
  let prevByte = -1; // last byte of the previous chunk
  let recordStart = 0; // file offset where the current record starts
  let recordStartLine = 1;
  let recordBytes = 0; // bytes of the current record seen so far, excluding CR
  let line = 1; // physical line at the current position
  let recordIndex = -1; // -1 while reading the header
  let headerBytes: Buffer[] | undefined = [];
  let header: string[] | undefined;
  let bomChecked = false;

  const endRecord = (endOffset: number): void => {
    if (recordBytes > 0) {
      if (recordIndex === -1) {
        header = parseHeader(Buffer.concat(headerBytes ?? []), dialect);
        headerBytes = undefined;
      } else {
        onRecord?.({ record: recordIndex + 1, line: recordStartLine, offset: recordStart, end: endOffset });
      }
      recordIndex++;
    }
    recordStart = endOffset;
    recordBytes = 0;
  };

  for await (const raw of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    let chunk = raw as Buffer;
    hash.update(chunk);
    if (!bomChecked) {
      bomChecked = true;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
        offsetBase = 3;
        recordStart = 3;
        chunk = chunk.subarray(3);
      }
    }
    if (headerBytes) headerBytes.push(chunk);
    const n = chunk.length;
    let p = 0;
    let nextQuote = -2; // cached position of the next quote byte (-2: unknown)
    while (p < n) {
      if (escapePending) {
        escapePending = false;
        recordBytes++;
        p++;
        continue;
      }
      if (quotePending) {
        quotePending = false;
        if (chunk[p] === quote && escape === quote) {
          recordBytes++;
          p++;
          continue;
        }
        inQuoted = false;
      }
      if (inQuoted) {
        let q = chunk.indexOf(quote, p);
        if (escape !== quote) {
          const e = chunk.indexOf(escape, p);
          if (e !== -1 && (q === -1 || e < q)) {
            line += countNewlines(chunk, p, e);
            recordBytes += e + 1 - p;
            if (e + 1 < n) p = e + 2;
            else {
              escapePending = true;
              p = n;
            }
            continue;
          }
        }
        if (q === -1) q = n;
        line += countNewlines(chunk, p, q);
        recordBytes += q - p;
        if (q === n) {
          p = n;
          continue;
        }
        recordBytes++;
        if (q + 1 === n) {
          quotePending = true;
          p = n;
        } else if (chunk[q + 1] === quote && escape === quote) {
          recordBytes++;
          p = q + 2;
        } else {
          inQuoted = false;
          p = q + 1;
        }
        continue;
      }
      if (nextQuote !== -1 && nextQuote < p) nextQuote = chunk.indexOf(quote, p);
      const nl = chunk.indexOf(NL, p);
      if (nextQuote !== -1 && (nl === -1 || nextQuote < nl)) {
        const q = nextQuote;
        recordBytes += q - p + 1;
        const before = q > 0 ? chunk[q - 1] : prevByte;
        const atFieldStart = offsetBase + q === recordStart || before === delimiter;
        if (atFieldStart) {
          inQuoted = true;
        }
        p = q + 1;
        continue;
      }
      if (nl === -1) {
        recordBytes += n - p - (chunk[n - 1] === CR ? 1 : 0);
        p = n;
        continue;
      }
      recordBytes += nl - p - (nl > p && chunk[nl - 1] === CR ? 1 : 0);
      line++;
      endRecord(offsetBase + nl + 1);
      recordStartLine = line;
      p = nl + 1;
    }
    prevByte = n > 0 ? (chunk[n - 1] as number) : prevByte;
    offsetBase += n;
  }
  const bytes = offsetBase;
  if (inQuoted && !quotePending) {
    return { sha256: hash.digest('hex'), bytes, header, records: Math.max(recordIndex, 0), unterminatedQuote: { line: recordStartLine, offset: recordStart } };
  }
  endRecord(bytes);
  return { sha256: hash.digest('hex'), bytes, header, records: Math.max(recordIndex, 0) };
}

function countNewlines(chunk: Buffer, from: number, to: number): number {
  let count = 0;
  let i = chunk.indexOf(NL, from);
  while (i !== -1 && i < to) {
    count++;
    i = chunk.indexOf(NL, i + 1);
  }
  return count;
}

/** Splits the header record into names, honouring quotes; the header is small, so a plain loop is fine. */
function parseHeader(bytes: Buffer, dialect: CsvDialectBytes): string[] {
  const text = bytes.toString(dialect.encoding === 'latin-1' ? 'latin1' : 'utf8');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === dialect.escape && dialect.escape !== dialect.quote) {
        field += text[i + 1] ?? '';
        i++;
      } else if (ch === dialect.quote) {
        if (text[i + 1] === dialect.quote && dialect.escape === dialect.quote) {
          field += ch;
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === dialect.quote && field === '') quoted = true;
    else if (ch === dialect.delimiter) {
      fields.push(field);
      field = '';
    } else if (ch === '\n') break;
    else if (ch !== '\r') field += ch;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}
