import type { RejectedRecord } from '../warehouse/warehouse.js';
import { scanCsv, type CsvDialectBytes, type RecordPosition } from './csv-record-scanner.js';

export interface LocatedReject extends RejectedRecord {
  /** 1-based data record number in the file. */
  readonly record: number;
  /** 1-based physical line where the record starts. */
  readonly line: number;
  /** Byte range of the record in the file (its line break excluded at the end). */
  readonly offset: number;
  readonly end: number;
}

/**
 * Pins each record the engine rejected to its record number and line. The engine reports where the bad line
 * starts in bytes (its own line numbers drift after quoted newlines and blank lines), so a second scan maps the
 * byte offset to the record containing it — or, when it points at a blank line, to the record that follows.
 * Runs only for files that had rejects.
 */
export async function locateRejects(path: string, dialect: CsvDialectBytes, rejects: readonly RejectedRecord[]): Promise<LocatedReject[]> {
  const pending = [...rejects].sort((a, b) => a.byteOffset - b.byteOffset);
  const located: LocatedReject[] = [];
  let i = 0;
  await scanCsv(path, dialect, (position: RecordPosition) => {
    while (i < pending.length) {
      const reject = pending[i] as RejectedRecord;
      if (reject.byteOffset >= position.end) break;
      located.push({ ...reject, record: position.record, line: position.line, offset: position.offset, end: position.end });
      i++;
    }
  });
  // Records are unique: two engine errors on one record are one rejected row.
  const byRecord = new Map<number, LocatedReject>();
  for (const r of located) {
    const seen = byRecord.get(r.record);
    byRecord.set(r.record, seen ? { ...seen, message: `${seen.message}; ${r.message}` } : r);
  }
  return [...byRecord.values()].sort((a, b) => a.record - b.record);
}

/**
 * The record's bytes as text, exactly: valid UTF-8 decoded, any other byte written as \xNN — the engine's own copy
 * of the line has already replaced such bytes with '?', which would hide what was wrong.
 */
export function rawRecordText(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 10 || bytes[end - 1] === 13)) end--;
  while (i < end) {
    const b = bytes[i] as number;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let valid = length > 0 && i + length <= end;
    for (let k = 1; valid && k < length; k++) valid = ((bytes[i + k] as number) & 0xc0) === 0x80;
    if (valid) {
      out += Buffer.from(bytes.subarray(i, i + length)).toString('utf8');
      i += length;
    } else {
      out += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
      i += 1;
    }
  }
  return out;
}
