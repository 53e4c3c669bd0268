import type { Writable } from 'node:stream';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { PostgresSourcePlan } from '../../config/plan.js';
import { RefineryError } from '../../errors.js';
import { EXTRACT_NULL } from './postgres-extract.js';
import { quoteIdent, quoteTable } from './postgres-connection.js';
import { BinaryCopyRows, CsvSink, PgoutputCsvDecoder, type RenamedColumns } from './pgoutput-csv.js';

/**
 * Log-based change data capture from PostgreSQL with the built-in `pgoutput` plugin. Changes are read with
 * pg_logical_slot_peek_binary_changes — which does not consume them — and the slot is advanced only after the
 * warehouse has committed them (`acknowledge`). A crash between the two re-delivers changes the warehouse already
 * holds; they are dropped by LSN, so the result is exactly-once.
 */
export interface SlotState {
  readonly exists: boolean;
  readonly confirmedLsn?: string;
  /** Where decoding the slot starts: the WAL from here on is kept on the server for it, and a read decodes it all. */
  readonly restartLsn?: string;
  /** A consumer is streaming from it right now (its backend pid). */
  readonly activePid?: number;
  /** The database the slot decodes; slot names are shared by the whole server, slots are not. */
  readonly database?: string;
  /** This connection's database, to compare with `database`. */
  readonly currentDatabase?: string;
  /**
   * Whether the server still keeps the WAL the slot needs (PostgreSQL 13+): `reserved` or `extended` yes,
   * `unreserved` not for long (past max_slot_wal_keep_size, removed at the next checkpoint), `lost` no longer.
   */
  readonly walStatus?: string;
}

export async function slotState(client: pg.Client, slot: string): Promise<SlotState> {
  const { rows } = await client.query<{ confirmed_flush_lsn: string | null; restart_lsn: string | null; active_pid: number | null; database: string | null; current: string; wal_status: string | null }>(
    `SELECT confirmed_flush_lsn, restart_lsn, active_pid, database, current_database() AS current, to_jsonb(s) ->> 'wal_status' AS wal_status
     FROM pg_replication_slots s WHERE slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (!row) return { exists: false };
  return {
    exists: true,
    ...(row.confirmed_flush_lsn ? { confirmedLsn: row.confirmed_flush_lsn } : {}),
    ...(row.restart_lsn ? { restartLsn: row.restart_lsn } : {}),
    ...(row.active_pid !== null ? { activePid: row.active_pid } : {}),
    ...(row.database !== null ? { database: row.database } : {}),
    currentDatabase: row.current,
    ...(row.wal_status !== null ? { walStatus: row.wal_status } : {}),
  };
}

/** The command that replaces a cdc source's slot, snapshot and what follows from them: the fix for a broken stream. */
export function resnapshotCommand(source: PostgresSourcePlan): string {
  return `refinery run --full-refresh --select bronze.${source.name}+`;
}

/** The fix for a truncate waiting in the slot, the same in `run` (cdc_truncated) and `plan`. */
export function truncatedHint(source: PostgresSourcePlan): string {
  return `Take a new snapshot, which replaces what came before: ${resnapshotCommand(source)}`;
}

/**
 * A slot the server invalidated because it held more WAL than max_slot_wal_keep_size allows: the changes it had not
 * delivered are gone, and reading it fails. Only a new snapshot can follow the table again.
 */
export function slotLostError(source: PostgresSourcePlan, since: string): RefineryError {
  return new RefineryError('pipeline', {
    code: 'cdc_slot_lost',
    step: `bronze.${source.name}`,
    value: source.load.slot,
    message: `The server invalidated replication slot ${source.load.slot}: it kept more WAL than the server's max_slot_wal_keep_size allows, so the changes after ${since} are lost to it.`,
    hint: `Take a new snapshot: ${resnapshotCommand(source)}. So that it does not happen again, run the source before that much WAL piles up, or raise max_slot_wal_keep_size.`,
  });
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
  if (pubs.length === 0) {
    // A partitioned table's changes are published under each partition's name unless the root is asked for: the
    // warehouse knows the table, not its partitions.
    const { rows: kind } = await client.query<{ partitioned: boolean }>(`SELECT relkind = 'p' AS partitioned FROM pg_class WHERE oid = $1::regclass`, [quoteTable(table)]);
    await client.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${quoteTable(table)}${kind[0]?.partitioned ? ' WITH (publish_via_partition_root = true)' : ''}`);
  }
  const state = await slotState(client, slot);
  if (state.exists) return { createdSlot: false, lsn: state.confirmedLsn ?? '0/0' };
  // Creating a slot waits for every transaction open on the server to end (the slot's start must see them whole):
  // one left open (an idle session mid-transaction) would make the run wait forever without a word. The wait is a
  // lock wait, so lock_timeout bounds it, and the error names the transactions to end.
  const waitMs = slotWaitMs();
  await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${waitMs}ms`]);
  try {
    const { rows } = await client.query<{ lsn: string }>(`SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    return { createdSlot: true, lsn: rows[0]?.lsn ?? '0/0' };
  } catch (error) {
    if ((error as { code?: string }).code !== '55P03') throw error;
    const { rows: open } = await client.query<{ pid: number; state: string | null; since: string; datname: string | null }>(
      `SELECT pid, state, to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS TZ') AS since, datname FROM pg_stat_activity
       WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 5`,
    );
    const list = open.map((t) => `pid ${t.pid} (${t.state ?? 'unknown state'}, database ${t.datname ?? '?'}, open since ${t.since})`).join('; ');
    throw new RefineryError('pipeline', {
      code: 'cdc_slot_waits',
      value: slot,
      message: `The replication slot ${slot} could not be created within ${Math.round(waitMs / 1000)} s: PostgreSQL creates it only once every transaction open on the server has ended, and ${open.length > 0 ? `${open.length === 1 ? 'this one' : 'these'} did not: ${list}` : 'some did not'}.`,
      hint: `End ${open.length === 1 ? 'it' : 'them'} (COMMIT or ROLLBACK in that session, or SELECT pg_terminate_backend(${open[0]?.pid ?? '<pid>'})) and run again.`,
    });
  } finally {
    await client.query(`RESET lock_timeout`).catch(() => undefined);
  }
}

/** How long creating a slot may wait for open transactions: 60 s, or REFINERY_CDC_SLOT_WAIT_MS (tests shorten it). */
function slotWaitMs(): number {
  const configured = Number(process.env.REFINERY_CDC_SLOT_WAIT_MS);
  return Number.isSafeInteger(configured) && configured > 0 ? configured : 60_000;
}

/**
 * What is wrong with `publication` for reading every change of `table` into `columns`, or nothing. pgoutput sends
 * only what the publication publishes, and says nothing about the rest: a publication without the table, without
 * deletes or truncates, with a column list or a row filter, would make the warehouse miss changes without a word.
 * A publication Refinery created is right; one named in `load.publication` (or changed since) may not be.
 */
export async function publicationProblems(client: pg.Client, publication: string, table: string, columns: readonly string[]): Promise<PublicationProblem[] | 'missing'> {
  const { rows: pubs } = await client.query<{ pubinsert: boolean; pubupdate: boolean; pubdelete: boolean; pubtruncate: boolean; viaroot: boolean; partitioned: boolean }>(
    `SELECT pubinsert, pubupdate, pubdelete, pubtruncate, (to_jsonb(p) ->> 'pubviaroot')::boolean AS viaroot,
       (SELECT relkind = 'p' FROM pg_class WHERE oid = $2::regclass) AS partitioned
     FROM pg_publication p WHERE pubname = $1`,
    [publication, quoteTable(table)],
  );
  const pub = pubs[0];
  if (!pub) return 'missing';
  const problems: PublicationProblem[] = [];
  const p = quoteIdent(publication);
  const t = quoteTable(table);
  const ops = (['insert', 'update', 'delete', 'truncate'] as const).filter((op) => !pub[`pub${op}`]);
  if (ops.length > 0) problems.push({ problem: `it does not publish ${ops.map((op) => `${op}s`).join(', ')}`, fix: `ALTER PUBLICATION ${p} SET (publish = 'insert, update, delete, truncate');` });
  const [schema, name] = table.split('.') as [string, string];
  // pg_publication_tables covers FOR TABLE, FOR ALL TABLES and FOR TABLES IN SCHEMA; its column list (attnames)
  // and row filter (rowfilter) exist from PostgreSQL 15, hence the row read as JSON.
  const { rows } = await client.query<{ t: { attnames?: string[] | null; rowfilter?: string | null } }>(
    `SELECT to_jsonb(t) AS t FROM pg_publication_tables t WHERE pubname = $1 AND schemaname = $2 AND tablename = $3`,
    [publication, schema, name],
  );
  const published = rows[0]?.t;
  if (pub.partitioned && !pub.viaroot) {
    problems.push({ problem: `it publishes the changes of the partitions of ${table} under the partitions' names`, fix: `ALTER PUBLICATION ${p} SET (publish_via_partition_root = true);` });
    // Published partition by partition, the table itself is not listed; it is published when every partition is.
    // Said now too, rather than only once the first fix is made.
    const { rows: leaves } = await client.query<{ unpublished: number }>(
      `SELECT count(*) FILTER (WHERE NOT EXISTS (
         SELECT 1 FROM pg_publication_tables t WHERE t.pubname = $1 AND (quote_ident(t.schemaname) || '.' || quote_ident(t.tablename))::regclass = l.relid))::int AS unpublished
       FROM pg_partition_tree($2::regclass) l WHERE l.isleaf`,
      [publication, t],
    );
    if ((leaves[0]?.unpublished ?? 0) > 0) problems.push({ problem: `it does not publish ${table}`, fix: `ALTER PUBLICATION ${p} ADD TABLE ${t};` });
  } else if (!published) problems.push({ problem: `it does not publish ${table}`, fix: `ALTER PUBLICATION ${p} ADD TABLE ${t};` });
  else {
    const readd = `ALTER PUBLICATION ${p} DROP TABLE ${t}; ALTER PUBLICATION ${p} ADD TABLE ${t};`;
    const missing = published.attnames ? columns.filter((c) => !published.attnames?.includes(c)) : [];
    if (missing.length > 0) problems.push({ problem: `its column list leaves out ${missing.join(', ')}`, fix: readd });
    if (published.rowfilter) problems.push({ problem: `its row filter (WHERE ${published.rowfilter}) leaves changes out`, fix: readd });
  }
  return problems;
}

/** Why a publication misses changes of a table, and the SQL that fixes it. */
export interface PublicationProblem {
  readonly problem: string;
  readonly fix: string;
}

/** The replica identity of one relation: whole old rows (`full`), or the columns an update or delete carries. */
export interface RelationIdentity {
  /** Schema-qualified and quoted, as an ALTER TABLE takes it. */
  readonly relation: string;
  /** The table itself, not one of its partitions. */
  readonly isTable: boolean;
  readonly full: boolean;
  /** Empty when the relation has no identity at all (no primary key, or REPLICA IDENTITY NOTHING). */
  readonly columns: readonly string[];
}

/**
 * The replica identity of the table or, for a partitioned table, of each of its leaf partitions: rows live in the
 * leaves, and it is a leaf's identity that PostgreSQL checks before an UPDATE or DELETE and writes to the WAL. A
 * partition does not inherit REPLICA IDENTITY FULL set on its parent.
 */
export async function replicaIdentities(client: pg.Client, table: string): Promise<RelationIdentity[]> {
  const { rows } = await client.query<{ relation: string; is_table: boolean; identity: string; columns: string[] }>(
    `WITH RECURSIVE tree AS (
       SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = $1::regclass
       UNION ALL
       SELECT c.oid, c.relkind FROM tree t JOIN pg_inherits i ON i.inhparent = t.oid JOIN pg_class c ON c.oid = i.inhrelid AND c.relispartition
     )
     SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS relation, c.oid = $1::regclass AS is_table, c.relreplident AS identity,
       ARRAY(SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
             WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
             ORDER BY array_position(i.indkey::int2[], a.attnum)) AS columns
     FROM tree t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.relkind <> 'p' AND (t.relkind <> 'f' OR c.oid = $1::regclass)
     ORDER BY 1`,
    [quoteTable(table)],
  );
  return rows.map((row) => ({ relation: row.relation, isTable: row.is_table, full: row.identity === 'f', columns: row.identity === 'n' ? [] : row.columns }));
}

/** Relation names for a message: a table can have hundreds of partitions or children, so five, then '...'. */
function firstFive(names: readonly string[]): string {
  return `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`;
}

/**
 * Checks the table can be read by CDC at all, before anything is created and before every read: every change of its
 * rows must come under its own name (no inheritance children), and carry the warehouse's key (the replica identity).
 */
export async function assertCdcTable(client: pg.Client, source: PostgresSourcePlan, streaming: boolean): Promise<void> {
  await assertNoInheritanceChildren(client, source);
  await assertReplicaIdentity(client, source, streaming);
}

/**
 * A table with inheritance children (plain INHERITS, not partitions) holds their rows too, so the snapshot reads
 * them; but PostgreSQL publishes a child's changes under the child's own name, and publish_via_partition_root does
 * not apply to inheritance. The stream would miss every change made in a child, without a word.
 */
async function assertNoInheritanceChildren(client: pg.Client, source: PostgresSourcePlan): Promise<void> {
  const { rows } = await client.query<{ child: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS child
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE i.inhparent = $1::regclass AND NOT c.relispartition ORDER BY 1`,
    [quoteTable(source.table)],
  );
  if (rows.length === 0) return;
  const children = rows.map((r) => r.child);
  throw new RefineryError('pipeline', {
    code: 'cdc_inheritance_children',
    step: `bronze.${source.name}`,
    value: source.table,
    message: `${source.table} has ${children.length === 1 ? 'an inheritance child' : `${children.length} inheritance children`} (${firstFive(children)}): a read of ${source.table} returns ${children.length === 1 ? "the child's rows too, but PostgreSQL publishes its changes under its own name" : "their rows too, but PostgreSQL publishes their changes under their own names"}, so the change stream would miss every change made there.`,
    hint: `Use strategy 'snapshot' or 'cursor' for sources.${source.name}, which read the children's rows as the table does, or turn the children into partitions (a partitioned table's changes all come under its name).`,
  });
}

/**
 * Updates and deletes must carry the warehouse's key: a delete carries only the table's replica identity (its primary
 * key by default), and without one PostgreSQL refuses the table's updates and deletes as soon as a publication
 * publishes them, which would break the source's own application. Checked before anything is created, and on every
 * read (the identity can be changed later, a partition added; changes made meanwhile lack the key, hence a new
 * snapshot then). For a partitioned table every leaf partition is checked, and all that fall short are named.
 */
export async function assertReplicaIdentity(client: pg.Client, source: PostgresSourcePlan, streaming: boolean): Promise<void> {
  const identities = (await replicaIdentities(client, source.table)).filter((r) => !r.full);
  const then = streaming ? `; then take a new snapshot, since changes made meanwhile lack it: ${resnapshotCommand(source)}` : '';
  const partitions = (relations: readonly RelationIdentity[]): string => {
    const names = relations.map((r) => r.relation);
    return `${names.length === 1 ? 'partition' : `${names.length} partitions`} ${firstFive(names)} of ${source.table}`;
  };
  // One ALTER per partition, the first five spelled out: a table can have hundreds.
  const alters = (relations: readonly RelationIdentity[]): string =>
    `${relations.slice(0, 5).map((r) => `ALTER TABLE ${r.relation} REPLICA IDENTITY FULL;`).join(' ')}${relations.length > 5 ? ` and the same for the ${relations.length - 5} others, listed by SELECT l.relid FROM pg_partition_tree('${quoteTable(source.table).replaceAll("'", "''")}') l JOIN pg_class c ON c.oid = l.relid WHERE l.isleaf AND c.relreplident <> 'f'` : ''}`;
  const none = identities.filter((r) => r.columns.length === 0);
  if (none.length > 0) {
    const whole = none.length === 1 && none[0]?.isTable === true;
    throw new RefineryError('pipeline', {
      code: 'cdc_replica_identity',
      step: `bronze.${source.name}`,
      value: source.table,
      message: whole
        ? `${source.table} has no primary key and no replica identity: in a publication, PostgreSQL would refuse its UPDATEs and DELETEs, and the change stream could not say which row they changed.`
        : `${partitions(none)} ${none.length === 1 ? 'has' : 'have'} no primary key and no replica identity (a partition does not inherit its parent's): in a publication, PostgreSQL would refuse UPDATEs and DELETEs of the rows there, and the change stream could not say which row they changed.`,
      hint: whole
        ? `Give it a primary key (ALTER TABLE ${quoteTable(source.table)} ADD PRIMARY KEY (${source.key.join(', ')})) or send whole old rows (ALTER TABLE ${quoteTable(source.table)} REPLICA IDENTITY FULL)${then || ", or use strategy 'snapshot' or 'cursor'"}.`
        : `Give the table a primary key, which every partition then has (ALTER TABLE ${quoteTable(source.table)} ADD PRIMARY KEY (${source.key.join(', ')})), or send whole old rows from each partition (${alters(none)})${then || ", or use strategy 'snapshot' or 'cursor'"}.`,
    });
  }
  const uncovered = identities.map((r) => ({ r, missing: source.key.filter((k) => !r.columns.includes(k)) })).filter((u) => u.missing.length > 0);
  const first = uncovered[0];
  if (first) {
    const { r, missing } = first;
    const t = quoteTable(source.table);
    const key = r.columns.length === 1 ? `'${r.columns[0]}'` : `[${r.columns.map((c) => `'${c}'`).join(', ')}]`;
    throw new RefineryError('pipeline', {
      code: 'cdc_replica_identity',
      step: `bronze.${source.name}`,
      value: source.table,
      message: r.isTable
        ? `${source.table}'s deletes carry only its replica identity (${r.columns.join(', ')}), not ${missing.join(', ')}, the key of sources.${source.name}: silver could not tell which row a delete removed.`
        : `Deletes in ${partitions(uncovered.map((u) => u.r))} carry only ${uncovered.length === 1 ? 'its' : 'their'} replica identity (${r.columns.join(', ')}${uncovered.length === 1 ? '' : ` in ${r.relation}`}), not ${missing.join(', ')}, the key of sources.${source.name}: silver could not tell which row a delete removed.`,
      hint: r.isTable
        ? `Send whole old rows (ALTER TABLE ${t} REPLICA IDENTITY FULL), or make sources.${source.name}.key ${key}${then}.`
        : `Send whole old rows (${alters(uncovered.map((u) => u.r))}), or make sources.${source.name}.key ${key}${then}.`,
    });
  }
}

/**
 * Changes made while the table's columns had other names (see renamedColumns): pgoutput names a change's columns but
 * does not number them, so values sent under a name the table no longer has cannot be put under the name it has
 * now. Loaded anyway, silver would take NULL for the new name: nothing is loaded, and a new snapshot is the fix.
 */
export function columnsRenamedError(source: PostgresSourcePlan, renamed: RenamedColumns): RefineryError {
  const { gone, absent, changes } = renamed;
  const list = (names: readonly string[]): string => names.join(', ');
  return new RefineryError('pipeline', {
    code: 'cdc_columns_renamed',
    step: `bronze.${source.name}`,
    value: `${list(gone)} → ${list(absent)}`,
    message: `${source.table}'s columns changed while its changes waited in the slot: ${changes === 1 ? '1 change of this read was' : `${changes.toLocaleString('en-US')} changes of this read were`} made when it had ${list(gone)} (gone now) and no ${list(absent)}, as if ${gone.length === 1 && absent.length === 1 ? `${gone[0]} was renamed to ${absent[0]}` : 'columns were renamed'}. The change stream names columns but does not number them, so those values cannot be matched to the columns now: loaded, they would read NULL there. Nothing of this read was loaded.`,
    hint: `Take a new snapshot, which reads every row as the table is now: ${resnapshotCommand(source)}`,
  });
}

/** A publication that cannot carry every change of the table, on the first run (`streaming` false) or a later one. */
export function publicationError(source: PostgresSourcePlan, problems: PublicationProblem[] | 'missing', streaming: boolean): RefineryError {
  const { publication } = source.load;
  const snapshot = resnapshotCommand(source);
  if (problems === 'missing') {
    return new RefineryError('pipeline', {
      code: 'cdc_publication_missing',
      step: `bronze.${source.name}`,
      value: publication,
      message: `Publication ${publication} is gone from the server, so the slot can send no change of ${source.table}; changes made since it went are lost to it.`,
      hint: `Take a new snapshot, which creates the publication again: ${snapshot}`,
    });
  }
  const fixes = [...new Set(problems.map((p) => p.fix))].join(' ');
  return new RefineryError('pipeline', {
    code: 'cdc_publication_mismatch',
    step: `bronze.${source.name}`,
    value: publication,
    message: `Publication ${publication} cannot carry every change of ${source.table}: ${problems.map((p) => p.problem).join('; ')}. The changes it leaves out would never reach the warehouse${streaming ? ', and those made since it was so never reached the slot' : ''}.`,
    hint: `Fix it (${fixes}) or give the source a publication of its own, which Refinery creates (load: { strategy: 'cdc', publication: '${publication.slice(0, 59)}_own' }); then ${streaming ? `take a new snapshot: ${snapshot}` : 'run again'}.`,
  });
}

/**
 * Drops the slot, and the publication when it is this table's alone (what Refinery creates). A publication that
 * also publishes other tables, or all of them, serves someone else as well: it is kept, and `keptPublication` says why.
 */
export async function dropCdcSetup(client: pg.Client, slot: string, publication: string, table: string): Promise<{ droppedSlot: boolean; droppedPublication: boolean; keptPublication?: string }> {
  const state = await slotState(client, slot);
  if (state.exists) await client.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
  const [schema, name] = table.split('.') as [string, string];
  const { rows } = await client.query<{ all_tables: boolean; others: string[] }>(
    `SELECT p.puballtables AS all_tables,
       ARRAY(SELECT format('%s.%s', t.schemaname, t.tablename) FROM pg_publication_tables t WHERE t.pubname = p.pubname AND (t.schemaname, t.tablename) <> ($2, $3) ORDER BY 1 LIMIT 3) AS others
     FROM pg_publication p WHERE p.pubname = $1`,
    [publication, schema, name],
  );
  const pub = rows[0];
  if (!pub) return { droppedSlot: state.exists, droppedPublication: false };
  if (pub.all_tables || pub.others.length > 0) {
    return { droppedSlot: state.exists, droppedPublication: false, keptPublication: pub.all_tables ? 'it publishes all tables' : `it also publishes ${pub.others.join(', ')}` };
  }
  await client.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
  return { droppedSlot: state.exists, droppedPublication: true };
}

/**
 * How far the server's WAL is flushed: where a read of the slot stops. Logical decoding reads only flushed WAL, and
 * the write position (pg_current_wal_lsn) can be ahead of it: a read up to that could store a position past a
 * commit it never saw, and the next read would skip that transaction.
 */
export async function flushedLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(`SELECT pg_current_wal_flush_lsn()::text AS lsn`);
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
  /** Positions of the columns some change did not send (listed in its _unchanged field; see PgoutputCsvDecoder). */
  readonly unsentColumns: readonly number[];
  /** The commit LSN of a transaction that truncated the table, if one is in this read. */
  readonly truncatedAt?: string;
  /** Changes made while the table's columns were named otherwise (see PgoutputCsvDecoder.renamed). */
  readonly renamed?: RenamedColumns;
}

/**
 * Writes the slot's pending changes for `table` (after `afterLsn`, up to `uptoLsn`) to `out` as CSV with the
 * table's columns plus _op, _lsn and _unchanged, in commit order. Values stay the server's text: nothing is parsed.
 *
 * The changes come as one binary COPY of the peeked messages — raw bytes, no per-row round trips or hex — and are
 * decoded straight into CSV (see pgoutput-csv.ts), so a backlog of a million changes never becomes a million objects.
 */
export async function writeChanges(
  client: pg.Client,
  opts: {
    slot: string;
    publication: string;
    table: string;
    columns: readonly string[];
    key?: readonly string[];
    afterLsn: string;
    uptoLsn: string;
    out: Writable;
    decodingMemory?: string;
    /** Every column the table has now: changes made while some were named otherwise are reported (`renamed`). */
    tableColumns?: readonly string[];
  },
): Promise<ChangeBatch> {
  // Decoding keeps each transaction's changes in memory until its commit and spills them to disk beyond this
  // limit; a bulk UPDATE of a million rows decodes in half the time when it fits. The setting is this session's
  // only (PostgreSQL 13 and later; set_config over pg_settings skips it on older servers).
  if (opts.decodingMemory) {
    await client.query(`SELECT set_config(name, $1, false) FROM pg_settings WHERE name = 'logical_decoding_work_mem'`, [opts.decodingMemory]);
  }
  const [schema, name] = opts.table.split('.') as [string, string];
  const { out } = opts;
  const sink = new CsvSink(out);
  sink.text(`${[...opts.columns, '_op', '_lsn', '_unchanged'].map(csvField).join(',')}\n`);
  const decoder = new PgoutputCsvDecoder(schema, name, opts.columns, lsnValue(opts.afterLsn), sink, opts.key ?? [], opts.tableColumns ? new Set(opts.tableColumns) : undefined);
  const rows = new BinaryCopyRows((chunk, start, end) => decoder.message(chunk, start, end));
  const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`;
  // COPY takes no parameters: the slot and publication names are checked identifiers, the LSN is the server's own.
  const copy = client.query(
    copyStreams.to(
      `COPY (SELECT data FROM pg_logical_slot_peek_binary_changes(${literal(opts.slot)}, ${literal(opts.uptoLsn)}::pg_lsn, NULL, 'proto_version', '1', 'publication_names', ${literal(opts.publication)})) TO STDOUT WITH (FORMAT binary)`,
    ),
  );
  // `out` can be stopped from its side (the part being staged failed, and its stager destroyed the writer): stop
  // reading then. The error goes to whoever stopped it; without this listener it would crash the process.
  let stopped: Error | undefined;
  out.on('error', (error: Error) => void (stopped ??= error));
  try {
    for await (const chunk of copy) {
      if (out.destroyed) throw stopped ?? new Error('the change extract was stopped');
      rows.push(chunk as Buffer);
      await sink.drained();
    }
    if (!rows.done) throw new Error('the change stream ended before its trailer');
    sink.flush();
  } catch (error) {
    out.destroy();
    throw error;
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { changes: decoder.changes, unsentColumns: [...decoder.unsentColumns].sort((a, b) => a - b), ...(decoder.lastLsn ? { lastLsn: decoder.lastLsn } : {}), ...(decoder.truncatedAt ? { truncatedAt: decoder.truncatedAt } : {}), ...(decoder.renamed ? { renamed: decoder.renamed } : {}) };
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
