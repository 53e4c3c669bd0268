import type { RejectedRecord } from '../warehouse/warehouse.js';
import { scanCsv, type CsvDialectBytes, type RecordPosition } from './csv-record-scanner.js';

export interface LocatedReject extends RejectedRecord {
  /** 1-based data record number in the file. */
  readonly record: number;
  /** 1-based physical line where the record starts. */
  readonly line: number;
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
      located.push({ ...reject, record: position.record, line: position.line });
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
