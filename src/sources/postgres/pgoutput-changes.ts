import { createWriteStream } from 'node:fs';
import type pg from 'pg';
import { PgoutputParser } from 'pg-logical-replication/dist/output-plugins/pgoutput/pgoutput-parser.js';
import type { Message } from 'pg-logical-replication/dist/output-plugins/pgoutput/pgoutput.types.js';
import { RefineryError } from '../../errors.js';
import { EXTRACT_NULL } from './postgres-extract.js';
import { quoteIdent, quoteTable } from './postgres-connection.js';

/**
 * Log-based change data capture from PostgreSQL with the built-in `pgoutput` plugin. Changes are read with
 * pg_logical_slot_peek_binary_changes — which does not consume them — and the slot is advanced only after the
 * warehouse has committed them (`acknowledge`). A crash between the two re-delivers changes the warehouse already
 * holds; they are dropped by LSN, so the result is exactly-once.
 */
export interface SlotState {
  readonly exists: boolean;
  readonly confirmedLsn?: string;
}

export async function slotState(client: pg.Client, slot: string): Promise<SlotState> {
  const { rows } = await client.query<{ confirmed_flush_lsn: string | null }>(`SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
  const row = rows[0];
  return row ? { exists: true, ...(row.confirmed_flush_lsn ? { confirmedLsn: row.confirmed_flush_lsn } : {}) } : { exists: false };
}

export async function ensureCdcSetup(client: pg.Client, table: string, slot: string, publication: string): Promise<{ createdSlot: boolean; lsn: string }> {
  const { rows: level } = await client.query<{ wal_level: string }>(`SHOW wal_level`);
  if (level[0]?.wal_level !== 'logical') {
    throw new RefineryError('pipeline', {
      code: 'cdc_needs_logical_wal',
      message: `Log-based CDC needs wal_level = logical on the PostgreSQL server; it is ${level[0]?.wal_level ?? 'unknown'}.`,
      hint: "Run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL — or use load strategy 'cursor' or 'snapshot'.",
    });
  }
  const { rows: pubs } = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (pubs.length === 0) await client.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${quoteTable(table)}`);
  const state = await slotState(client, slot);
  if (state.exists) return { createdSlot: false, lsn: state.confirmedLsn ?? '0/0' };
  const { rows } = await client.query<{ lsn: string }>(`SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return { createdSlot: true, lsn: rows[0]?.lsn ?? '0/0' };
}

export async function dropCdcSetup(client: pg.Client, slot: string, publication: string): Promise<{ droppedSlot: boolean; droppedPublication: boolean }> {
  const state = await slotState(client, slot);
  if (state.exists) await client.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
  const { rowCount } = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (rowCount) await client.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
  return { droppedSlot: state.exists, droppedPublication: Boolean(rowCount) };
}

export async function currentLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`);
  return rows[0]?.lsn ?? '0/0';
}

/** LSNs as comparable numbers ('16/B374D848' → 0x16B374D848); safe up to 2^53 bytes of WAL. */
export function lsnValue(lsn: string): number {
  const [hi, lo] = lsn.split('/') as [string, string];
  return parseInt(hi, 16) * 2 ** 32 + parseInt(lo, 16);
}

export interface ChangeBatch {
  readonly changes: number;
  readonly lastLsn?: string;
}

/**
 * Writes the slot's pending changes for `table` (after `afterLsn`, up to `uptoLsn`) to a CSV file with the
 * table's columns plus _op and _lsn, in commit order. Values stay the server's text: nothing is parsed.
 */
export async function writeChanges(
  client: pg.Client,
  opts: { slot: string; publication: string; table: string; columns: readonly string[]; afterLsn: string; uptoLsn: string; path: string },
): Promise<ChangeBatch> {
  const parser = new PgoutputParser();
  const [schema, name] = opts.table.split('.') as [string, string];
  const out = createWriteStream(opts.path);
  const write = (line: string): Promise<void> => (out.write(line) ? Promise.resolve() : new Promise((r) => out.once('drain', () => r())));
  await write(`${[...opts.columns, '_op', '_lsn'].map(csvField).join(',')}\n`);
  const after = lsnValue(opts.afterLsn);
  let changes = 0;
  let lastLsn: string | undefined;
  // A change belongs to its transaction: the transaction's end LSN (known from its Begin message) is what orders
  // changes, what the warehouse stores, and what the slot is advanced to. Per-message LSNs can sit below it.
  // Changes wait in `pending` until their transaction's Commit tells its end LSN.
  let pending: Message[] = [];
  // Read in pages so a large backlog never sits in memory at once.
  await client.query('BEGIN');
  try {
    await client.query(
      `DECLARE changes NO SCROLL CURSOR FOR SELECT lsn::text AS lsn, data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, NULL, 'proto_version', '1', 'publication_names', $3)`,
      [opts.slot, opts.uptoLsn, opts.publication],
    );
    for (;;) {
      const { rows } = await client.query<{ lsn: string; data: Buffer }>(`FETCH 10000 FROM changes`);
      if (rows.length === 0) break;
      for (const row of rows) {
        const message = parser.parse(row.data) as Message;
        if (message.tag === 'begin') {
          pending = [];
          continue;
        }
        if (message.tag === 'commit') {
          const txEnd = normalizeLsn(message.commitEndLsn ?? row.lsn);
          if (lsnValue(txEnd) > after) {
            for (const change of pending) {
              if (change.tag !== 'insert' && change.tag !== 'update' && change.tag !== 'delete') continue;
              const values = change.tag === 'delete' ? (change.old ?? change.key ?? {}) : change.new;
              const line = [...opts.columns.map((c) => (values[c] === null || values[c] === undefined ? EXTRACT_NULL : String(values[c]))), change.tag, txEnd];
              await write(`${line.map((v) => (v === EXTRACT_NULL ? v : csvField(v))).join(',')}\n`);
              changes++;
            }
            lastLsn = txEnd;
          }
          pending = [];
          continue;
        }
        if (message.tag === 'relation') {
          // Keep the server's text: the parser would otherwise turn values into JavaScript types.
          for (const column of message.columns) column.parser = (raw: unknown) => raw;
          continue;
        }
        if (message.tag !== 'insert' && message.tag !== 'update' && message.tag !== 'delete') continue;
        if (message.relation.schema !== schema || message.relation.name !== name) continue;
        pending.push(message);
      }
    }
    await client.query('CLOSE changes');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    out.destroy();
    throw error;
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { changes, ...(lastLsn ? { lastLsn } : {}) };
}

/** The server's own spelling of an LSN ('0/1E06E38'), whatever padding a decoder used. */
export function normalizeLsn(lsn: string): string {
  const [hi, lo] = lsn.split('/') as [string, string];
  return `${parseInt(hi, 16).toString(16).toUpperCase()}/${parseInt(lo, 16).toString(16).toUpperCase()}`;
}

/** Tells the server the changes up to `lsn` are safely committed in the warehouse, so it may recycle their WAL. */
export async function acknowledge(client: pg.Client, slot: string, lsn: string): Promise<void> {
  await client.query(`SELECT pg_replication_slot_advance($1, $2::pg_lsn)`, [slot, lsn]);
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) || value === '' || value === EXTRACT_NULL ? `"${value.replaceAll('"', '""')}"` : value;
}
