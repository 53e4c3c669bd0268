import type { Writable } from 'node:stream';
import { drainedOrClosed } from '../drained.js';

/**
 * pgoutput (protocol version 1) messages of one table, decoded straight from their bytes into the CSV lines of a
 * change extract: the table's columns, then _op, _lsn and _unchanged. No object per change and no text decoding —
 * values are copied as the server sent them (its text form), quoted when CSV needs it — which is what lets a million
 * changes stream in seconds. Message formats: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 *
 * A change belongs to its transaction. The transaction's commit LSN — which its Begin already carries — orders
 * changes and is written as each line's _lsn, so lines go straight to the file as they are decoded, with no
 * transaction held in memory. The end LSN (from the Commit) is where the next read starts and what the slot is
 * advanced to. A transaction committed before `afterLsn` (the end of the last one delivered) was already delivered
 * and is dropped.
 */
export class PgoutputCsvDecoder {
  /** Per relation id: the wanted table's layout (see Relation), or null for another table. */
  private readonly relations = new Map<number, Relation | null>();
  /** The current transaction's commit LSN, written as each of its lines' _lsn; undefined when it is dropped. */
  private suffix: Buffer | undefined;
  private readonly fieldStart: number[] = [];
  private readonly fieldEnd: number[] = [];
  private readonly fieldKind: number[] = [];
  private oldStart: number[] = [];
  private oldEnd: number[] = [];
  private oldKind: number[] = [];
  changes = 0;
  lastLsn: string | undefined;
  /**
   * Positions (in the wanted columns) of values the server did not send in some change: an update that left a
   * TOASTed (large, stored out of line) value alone carries no copy of it. Such a line lists the positions in its
   * _unchanged field, and the value is taken from the key's previous row when the batch is loaded; it is not NULL.
   */
  readonly unsentColumns = new Set<number>();
  /** The commit LSN of the first transaction that truncated the table, if one did: no change lists what it removed. */
  truncatedAt: string | undefined;
  /**
   * Set when changes were made under a version of the table whose columns look renamed since (see relation()):
   * pgoutput names columns but does not number them, so their values cannot be put where they belong now.
   */
  renamed: RenamedColumns | undefined;

  constructor(
    private readonly schema: string,
    private readonly table: string,
    private readonly columns: readonly string[],
    private readonly after: number,
    private readonly out: CsvSink,
    /** The warehouse's key for the table (the source's `key`): an update that changes it is a delete and an insert. */
    private readonly keyColumns: readonly string[] = [],
    /** Every column the table has now, wanted or not; undefined: do not look for renamed columns. */
    private readonly tableColumns?: ReadonlySet<string>,
  ) {}

  /** One message: `m` from `start` to `end` (a view into the stream's chunk: no object per message). */
  message(m: Buffer, start = 0, end = m.length): void {
    const tag = m[start];
    switch (tag) {
      case 0x42: {
        // B: Begin — final (commit) LSN (8), commit time (8), xid (4)
        const hi = m.readUInt32BE(start + 1);
        const lo = m.readUInt32BE(start + 5);
        this.suffix = hi * 2 ** 32 + lo >= this.after ? Buffer.from(lsnText(hi, lo)) : undefined;
        return;
      }
      case 0x43: // C: Commit — flags (1), commit LSN (8), end LSN (8), time (8)
        if (this.suffix) this.lastLsn = lsnText(m.readUInt32BE(start + 10), m.readUInt32BE(start + 14));
        this.suffix = undefined;
        return;
      case 0x52: // R: Relation
        this.relation(m.subarray(start, end));
        return;
      case 0x49: // I: Insert
      case 0x55: // U: Update
      case 0x44: // D: Delete
        this.change(m, tag, start, end);
        return;
      case 0x54: // T: Truncate — relation count (4), options (1), relation ids (4 each)
        this.truncate(m, start);
        return;
      case 0x4f: // O: Origin
      case 0x59: // Y: Type
      case 0x4d: // M: logical decoding message
        return;
      default:
        throw new Error(`unknown pgoutput message '${String.fromCharCode(tag ?? 0)}'`);
    }
  }

  private truncate(m: Buffer, start: number): void {
    if (this.suffix === undefined) return;
    const count = m.readInt32BE(start + 1);
    for (let i = 0; i < count; i++) {
      if (this.relations.get(m.readInt32BE(start + 6 + 4 * i))) this.truncatedAt ??= this.suffix.toString('latin1');
    }
  }

  private relation(m: Buffer): void {
    const { id, schema, name, columns: names, key } = parseRelation(m);
    if (schema !== this.schema || name !== this.table) {
      this.relations.set(id, null);
      return;
    }
    const renamed = this.tableColumns ? renamedColumns(names, this.columns, this.tableColumns) : undefined;
    this.relations.set(id, {
      positions: this.columns.map((c) => names.indexOf(c)),
      key,
      keyPositions: this.keyColumns.map((c) => names.indexOf(c)).filter((p) => p >= 0),
      ...(renamed ? { renamed: { ...renamed, changes: 0 } } : {}),
    });
  }

  private change(m: Buffer, tag: number, start: number, end: number): void {
    const relation = this.relations.get(m.readInt32BE(start + 1));
    if (relation === undefined) throw new Error('pgoutput change for a relation it has not described');
    if (relation === null || this.suffix === undefined) return;
    if (relation.renamed) {
      relation.renamed.changes++;
      this.renamed ??= relation.renamed;
    }
    let at = start + 5;
    if (tag === 0x49) {
      this.tuple(m, at + 1, this.fieldStart, this.fieldEnd, this.fieldKind);
      this.line(m, end - start, relation, false, false, INSERT);
      return;
    }
    const sub = m[at];
    if (tag === 0x44) {
      // A delete carries the old key (K) or, with REPLICA IDENTITY FULL, the whole old row (O).
      this.tuple(m, at + 1, this.fieldStart, this.fieldEnd, this.fieldKind);
      this.line(m, end - start, relation, sub === 0x4b, false, DELETE);
      return;
    }
    if (sub === 0x4e) {
      this.tuple(m, at + 1, this.fieldStart, this.fieldEnd, this.fieldKind);
      this.line(m, end - start, relation, false, false, UPDATE);
      return;
    }
    // K (the key changed) or O (full old row), then N and the new row; an unchanged TOASTed value of the new row is
    // the old row's value when the old row came along.
    at = this.tuple(m, at + 1, this.oldStart, this.oldEnd, this.oldKind);
    this.tuple(m, at + 1, this.fieldStart, this.fieldEnd, this.fieldKind);
    if (this.keyChanged(m, relation.keyPositions)) {
      // A new key is another row to the warehouse: the old key's row goes (a delete of the old key, as Debezium has
      // it) and the new one comes. As an update of the new key alone, silver would keep the old key's row too.
      this.line(m, end - start, relation, sub === 0x4b, false, DELETE, true);
      this.line(m, end - start, relation, false, sub === 0x4f, INSERT);
    } else this.line(m, end - start, relation, false, sub === 0x4f, UPDATE);
  }

  /**
   * Whether the warehouse's key differs between the old tuple and the new one. Only values both tuples carry are
   * compared: a key-only old tuple holds the server's replica identity, which may not cover the warehouse's key.
   */
  private keyChanged(m: Buffer, keyPositions: readonly number[]): boolean {
    for (const c of keyPositions) {
      const before = this.oldKind[c];
      const after = this.fieldKind[c];
      if ((before !== 0x74 && before !== 0x62) || (after !== 0x74 && after !== 0x62)) continue;
      if (m.compare(m, this.oldStart[c], this.oldEnd[c], this.fieldStart[c], this.fieldEnd[c]) !== 0) return true;
    }
    return false;
  }

  /**
   * Writes one CSV line from the parsed new tuple (or, with `fromOld`, the old one): `keysOnly` leaves non-key
   * columns NULL (a key-only old tuple), `withOld` takes unsent values of the new tuple from the old one.
   */
  private line(m: Buffer, size: number, relation: Relation, keysOnly: boolean, withOld: boolean, op: Buffer, fromOld = false): void {
    const p = this.out;
    const suffix = this.suffix as Buffer;
    const { positions, key } = relation;
    const starts = fromOld ? this.oldStart : this.fieldStart;
    const ends = fromOld ? this.oldEnd : this.fieldEnd;
    const kinds = fromOld ? this.oldKind : this.fieldKind;
    // Room for the whole line: every value at most doubled and quoted, a \N or a comma per column, op and LSN, and
    // the positions of unsent values (up to five digits and a space each).
    p.reserve(2 * size + 10 * positions.length + suffix.length + 16);
    let unsent: number[] | undefined;
    for (let i = 0; i < positions.length; i++) {
      if (i > 0) p.byte(0x2c);
      const position = positions[i] as number;
      let kind = position < 0 ? 0x6e : (kinds[position] as number);
      let start = starts[position] as number;
      let end = ends[position] as number;
      if (kind === 0x75 && withOld) {
        kind = this.oldKind[position] as number;
        start = this.oldStart[position] as number;
        end = this.oldEnd[position] as number;
      }
      // A value not sent (unchanged TOAST, without the old row to take it from): NULL here, listed in _unchanged.
      if (kind === 0x75) (unsent ??= []).push(i);
      // NULL, a value not sent, and a non-key column of a key-only row.
      if ((kind !== 0x74 && kind !== 0x62) || (keysOnly && !key[position])) p.nullMarker();
      else p.field(m, start, end);
    }
    p.append(op);
    p.append(suffix);
    p.byte(0x2c);
    if (unsent) {
      p.ascii(unsent.join(' '));
      for (const i of unsent) this.unsentColumns.add(i);
    }
    p.byte(0x0a);
    this.changes++;
  }

  /** Reads a TupleData at `at` into the given arrays (start, end, kind per column); returns the offset after it. */
  private tuple(m: Buffer, at: number, start: number[], end: number[], kind: number[]): number {
    const count = m.readInt16BE(at);
    at += 2;
    for (let i = 0; i < count; i++) {
      const k = m[at] as number;
      at += 1;
      kind[i] = k;
      if (k === 0x74 || k === 0x62) {
        const length = m.readInt32BE(at);
        start[i] = at + 4;
        end[i] = at + 4 + length;
        at = end[i] as number;
      } else if (k !== 0x6e && k !== 0x75) {
        throw new Error(`unknown pgoutput column kind '${String.fromCharCode(k)}'`);
      }
    }
    return at;
  }
}

/** A described relation of the wanted table: per wanted column its position (-1: not there), key flags, key columns. */
interface Relation {
  readonly positions: number[];
  readonly key: boolean[];
  readonly keyPositions: number[];
  /** This version of the table has columns the table no longer has and lacks wanted ones: renamed since? */
  readonly renamed?: RenamedColumns;
}

/** A pgoutput Relation message (R): the relation's id (its oid), schema and name, and its columns in order. */
export function parseRelation(m: Buffer): { id: number; schema: string; name: string; columns: string[]; key: boolean[] } {
  const id = m.readInt32BE(1);
  let at = 5;
  const cstring = (): string => {
    const end = m.indexOf(0, at);
    const text = m.toString('utf8', at, end);
    at = end + 1;
    return text;
  };
  const schema = cstring();
  const name = cstring();
  at += 1; // replica identity
  const count = m.readInt16BE(at);
  at += 2;
  const columns: string[] = [];
  const key: boolean[] = [];
  for (let i = 0; i < count; i++) {
    key.push(((m[at] ?? 0) & 1) === 1);
    at += 1;
    columns.push(cstring());
    at += 8; // type oid, type modifier
  }
  return { id, schema, name, columns, key };
}

/**
 * Whether a version of the table (its columns as a Relation message listed them) looks renamed since: it has a
 * column the table no longer has (`gone`) and lacks one wanted now (`absent`). Its changes would carry the old
 * column's values nowhere and NULL for the new one. A column added since (absent only) or dropped since (gone
 * only) is no such loss; a drop and an add look the same as a rename.
 */
export function renamedColumns(columns: readonly string[], wanted: readonly string[], tableColumns: ReadonlySet<string>): { gone: string[]; absent: string[] } | undefined {
  const gone = columns.filter((c) => !tableColumns.has(c));
  const absent = wanted.filter((c) => !columns.includes(c));
  return gone.length > 0 && absent.length > 0 ? { gone, absent } : undefined;
}

/** Changes made while the table had columns it no longer has (`gone`) and not ones it has now (`absent`). */
export interface RenamedColumns {
  readonly gone: readonly string[];
  readonly absent: readonly string[];
  changes: number;
}

/**
 * Splits the byte stream of `COPY (SELECT data FROM ...) TO STDOUT (FORMAT binary)` into its one-column rows.
 * Feed it chunks in order; it calls `row` with each value's place in the chunk (valid during the call).
 */
export class BinaryCopyRows {
  private carry: Buffer | undefined;
  private headerDone = false;
  done = false;

  constructor(private readonly row: (chunk: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    let at = 0;
    if (!this.headerDone) {
      // PGCOPY\n\377\r\n\0, flags (4), header extension length (4) and the extension.
      if (buf.length < 19 || buf.length < 19 + buf.readInt32BE(15)) {
        this.carry = buf;
        return;
      }
      if (buf.toString('latin1', 0, 11) !== 'PGCOPY\n\xff\r\n\0') throw new Error('not a binary COPY stream');
      at = 19 + buf.readInt32BE(15);
      this.headerDone = true;
    }
    while (!this.done && buf.length - at >= 2) {
      const fields = buf.readInt16BE(at);
      if (fields === -1) {
        this.done = true;
        at += 2;
        break;
      }
      if (fields !== 1) throw new Error(`expected one column per COPY row, got ${fields}`);
      if (buf.length - at < 6) break;
      const length = buf.readInt32BE(at + 2);
      if (length < 0) throw new Error('unexpected NULL in a change row');
      if (buf.length - at - 6 < length) break;
      this.row(buf, at + 6, at + 6 + length);
      at += 6 + length;
    }
    this.carry = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
  }
}

/** Buffered writes to a file stream, in large chunks; `drained` resolves once the stream wants more. */
export class CsvSink {
  private buffer = Buffer.allocUnsafe(1 << 20);
  private length = 0;
  private backlog = false;

  constructor(private readonly stream: Writable) {}

  write(bytes: Buffer, start: number, end: number): void {
    const size = end - start;
    if (this.length + size > this.buffer.length) this.flush(size);
    bytes.copy(this.buffer, this.length, start, end);
    this.length += size;
  }

  text(text: string): void {
    const bytes = Buffer.from(text);
    this.write(bytes, 0, bytes.length);
  }

  /** Makes sure `size` more bytes fit without another check: the primitives below write unchecked. */
  reserve(size: number): void {
    if (this.length + size > this.buffer.length) this.flush(size);
  }

  byte(b: number): void {
    this.buffer[this.length++] = b;
  }

  /** ASCII text that needs no quoting (digits, spaces), written unchecked: reserve() the room first. */
  ascii(text: string): void {
    for (let i = 0; i < text.length; i++) this.buffer[this.length++] = text.charCodeAt(i);
  }

  /** The extract's NULL marker (\N), unquoted. */
  nullMarker(): void {
    this.buffer[this.length++] = 0x5c;
    this.buffer[this.length++] = 0x4e;
  }

  /** Short constant bytes, copied byte by byte (cheaper than Buffer#copy at this size). */
  append(bytes: Buffer): void {
    const out = this.buffer;
    let o = this.length;
    for (let i = 0; i < bytes.length; i++) out[o++] = bytes[i] as number;
    this.length = o;
  }

  /** A value as a CSV field: quoted (quotes doubled) when it holds a quote, comma or line break, is empty, or reads \N. */
  field(source: Buffer, start: number, end: number): void {
    // Copied while looking for what needs quoting (byte by byte: values are short, Buffer#copy costs more).
    const out = this.buffer;
    let o = this.length;
    let quote = end === start || (end - start === 2 && source[start] === 0x5c && source[start + 1] === 0x4e);
    for (let i = start; i < end; i++) {
      const b = source[i] as number;
      out[o++] = b;
      if (b === 0x22 || b === 0x2c || b === 0x0a || b === 0x0d) quote = true;
    }
    if (!quote) {
      this.length = o;
      return;
    }
    o = this.length;
    out[o++] = 0x22;
    for (let i = start; i < end; i++) {
      const b = source[i] as number;
      out[o++] = b;
      if (b === 0x22) out[o++] = 0x22;
    }
    out[o++] = 0x22;
    this.length = o;
  }

  async drained(): Promise<void> {
    if (!this.backlog) return;
    this.backlog = false;
    await drainedOrClosed(this.stream);
  }

  /** Hands the buffered bytes to the stream (which keeps them), and starts a fresh buffer. */
  flush(room = 0): void {
    if (this.length > 0 && !this.stream.write(this.buffer.subarray(0, this.length))) this.backlog = true;
    this.buffer = Buffer.allocUnsafe(Math.max(1 << 20, room));
    this.length = 0;
  }
}

const [INSERT, UPDATE, DELETE] = [',insert,', ',update,', ',delete,'].map((op) => Buffer.from(op)) as [Buffer, Buffer, Buffer];

/** The server's own spelling of an LSN ('0/1E06E38'). */
function lsnText(hi: number, lo: number): string {
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}
