import { createWriteStream, type WriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { drainedOrClosed } from './drained.js';

const QUOTE = 0x22;
const NEWLINE = 0x0a;

export interface CsvPart {
  readonly path: string;
  /** 0-based, in stream order. */
  readonly index: number;
  /** Bytes in the part, its copy of the header included. */
  readonly bytes: number;
}

export interface CsvPartOptions {
  /** A part is cut at the first record end after it holds this many bytes. */
  readonly partBytes: number;
  /** Called with each part once its bytes are on disk, in order; the last one when the stream ends. */
  readonly onPart: (part: CsvPart) => void;
}

/**
 * Writes a CSV byte stream (the header record first, `"` as quote and escape) into part files `<base>.<n>`, each
 * starting with the header and cut only between records, and hands each finished part to `onPart`.
 *
 * Why: an extract of a million rows takes a second or more to arrive from the server. Cut into parts, the warehouse
 * stages part n while part n+1 is still arriving, instead of reading the whole file only once the last byte is in.
 * The cut must not fall inside a quoted value (which may hold newlines), so the writer follows the quotes with
 * `indexOf` (native memchr) rather than visiting every byte.
 */
export class CsvPartWriter extends Writable {
  /** Paths of every part opened so far, finished or not: for the caller to remove. */
  readonly paths: string[] = [];
  private header: Buffer | undefined;
  private readonly headerChunks: Buffer[] = [];
  private inQuote = false;
  private part: WriteStream | undefined;
  private partSize = 0;

  constructor(
    private readonly base: string,
    private readonly options: CsvPartOptions,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.accept(chunk).then(() => done(), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    (async () => {
      // A stream with no data record (or no bytes at all) still makes one part, so the extract's columns are staged.
      if (this.part === undefined && this.paths.length === 0) await this.openPart(this.header ?? Buffer.concat(this.headerChunks));
      await this.closePart();
    })().then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const part = this.part;
    this.part = undefined;
    if (part === undefined || part.closed) {
      done(error);
      return;
    }
    // Closed only once the part's file is: after that no file of this writer is still being written, so the
    // caller's cleanup of `paths` cannot miss one.
    part.once('close', () => done(error));
    part.destroy();
  }

  private async accept(chunk: Buffer): Promise<void> {
    let start = 0;
    if (this.header === undefined) {
      const end = this.recordEnd(chunk, 0);
      if (end === -1) {
        this.headerChunks.push(chunk);
        return;
      }
      this.header = Buffer.concat([...this.headerChunks, chunk.subarray(0, end + 1)]);
      start = end + 1;
    }
    while (start < chunk.length) {
      // Destroyed while a write was under way (the extraction failed): open no new part.
      if (this.destroyed) return;
      if (this.part === undefined) await this.openPart(this.header);
      const room = this.options.partBytes - this.partSize;
      if (chunk.length - start < room) {
        this.followQuotes(chunk, start, chunk.length);
        await this.writeToPart(chunk.subarray(start));
        return;
      }
      // The part fills up in this chunk: cut it at the first record end past its size.
      const from = start + Math.max(room, 0);
      this.followQuotes(chunk, start, from);
      const end = this.recordEnd(chunk, from);
      if (end === -1) {
        await this.writeToPart(chunk.subarray(start));
        return;
      }
      await this.writeToPart(chunk.subarray(start, end + 1));
      await this.closePart();
      start = end + 1;
    }
  }

  /** Updates the quote state over chunk[from, to). */
  private followQuotes(chunk: Buffer, from: number, to: number): void {
    let at = chunk.indexOf(QUOTE, from);
    while (at !== -1 && at < to) {
      this.inQuote = !this.inQuote;
      at = chunk.indexOf(QUOTE, at + 1);
    }
  }

  /** The first newline at or after `from` that is outside quotes, following the quote state; -1 when the chunk has none. */
  private recordEnd(chunk: Buffer, from: number): number {
    let at = from;
    for (;;) {
      if (this.inQuote) {
        const quote = chunk.indexOf(QUOTE, at);
        if (quote === -1) return -1;
        this.inQuote = false;
        at = quote + 1;
        continue;
      }
      const newline = chunk.indexOf(NEWLINE, at);
      const quote = newline === -1 ? chunk.indexOf(QUOTE, at) : chunk.subarray(at, newline).indexOf(QUOTE);
      if (newline !== -1 && quote === -1) return newline;
      const quoteAt = newline === -1 ? quote : at + quote;
      if (quoteAt === -1) return -1;
      this.inQuote = true;
      at = quoteAt + 1;
    }
  }

  private async openPart(header: Buffer): Promise<void> {
    const path = `${this.base}.${this.paths.length}`;
    this.paths.push(path);
    this.part = createWriteStream(path);
    // A failed write (a full disk) fails the whole stream, and the extraction with it, instead of going unheard.
    this.part.on('error', (error) => this.destroy(error));
    this.partSize = 0;
    await this.writeToPart(header);
  }

  private async writeToPart(bytes: Buffer): Promise<void> {
    const part = this.part;
    if (part === undefined) return; // destroyed meanwhile
    this.partSize += bytes.length;
    if (!part.write(bytes)) await drainedOrClosed(part);
  }

  private async closePart(): Promise<void> {
    const part = this.part;
    if (part === undefined) return;
    this.part = undefined;
    await new Promise<void>((resolve, reject) => part.end((error?: Error | null) => (error ? reject(error) : resolve())));
    // A part finished after the writer was destroyed is not handed on: whoever stages parts has stopped.
    if (this.destroyed) return;
    this.options.onPart({ path: this.paths[this.paths.length - 1] as string, index: this.paths.length - 1, bytes: this.partSize });
  }
}
