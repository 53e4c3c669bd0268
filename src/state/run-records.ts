import { callAfter, systemClock, type Clock } from '../orchestrator/clock.js';
import type { SqlParam, SqlSession, Warehouse } from '../warehouse/warehouse.js';

export type RunStatus = 'running' | 'success' | 'failed' | 'cancelled' | 'interrupted';
export type StepStatus = 'success' | 'skipped' | 'failed' | 'upstream_failed' | 'cancelled';

export interface StepRecord {
  readonly runId: number;
  readonly step: string;
  readonly kind: string;
  readonly status: StepStatus;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly rowsIn: number;
  readonly rowsWritten: number;
  readonly rowsQuarantined: number;
  readonly rowsSuperseded: number;
  readonly rowsWarned: number;
  readonly message?: string;
  readonly details: Record<string, unknown>;
  readonly attempts?: number;
}

export interface StartedRun {
  readonly runId: number;
  /** The interrupted run this one resumes, and the steps that run completed (they are not redone). */
  readonly resumes?: { readonly runId: number; readonly completed: ReadonlySet<string> };
}

export async function startRun(
  warehouse: Warehouse,
  init: { project: string; startedAt: Date; fullRefresh: boolean; trigger: string; selection?: string; models?: readonly string[] },
): Promise<StartedRun> {
  return warehouse.transaction(async (tx) => {
    // What this run must tidy up and pick up, with its id, in one read: nearly every run finds nothing to do.
    // - A silver or gold table no longer in the project file loses its build record: while it was gone, the tables
    //   it reads stopped logging the keys it needs, so if it comes back it must be built from scratch, not refreshed.
    // - A run still marked running belongs to a process that died (only one process can hold the warehouse): it
    //   becomes interrupted, and the latest run, if interrupted and not resumed yet, is the one this run resumes.
    const models = init.models ?? [];
    const gone = `(table_name LIKE 'silver.%' OR table_name LIKE 'gold.%')${models.length > 0 ? ` AND table_name NOT IN (${models.map((_, i) => `$${i + 1}`).join(', ')})` : ''}`;
    const { rows: found } = await tx.query(
      `SELECT nextval('refinery.run_ids') AS id,
              ${init.models ? `EXISTS (SELECT 1 FROM refinery.tables WHERE ${gone})` : 'FALSE'} AS stale,
              EXISTS (SELECT 1 FROM refinery.runs WHERE status = 'running') AS running,
              (SELECT r.run_id FROM refinery.runs r WHERE r.status IN ('interrupted', 'running')
                 AND r.run_id = (SELECT max(run_id) FROM refinery.runs)
                 AND NOT EXISTS (SELECT 1 FROM refinery.runs n WHERE n.resumes_run_id = r.run_id)) AS resumable`,
      [...models],
    );
    const state = found[0] ?? {};
    if (state.stale === true) await tx.execute(`DELETE FROM refinery.tables WHERE ${gone}`, [...models]);
    if (state.running === true) await tx.execute(`UPDATE refinery.runs SET status = 'interrupted', ended_at = coalesce(ended_at, $1) WHERE status = 'running'`, [init.startedAt]);
    let resumes: StartedRun['resumes'];
    if (state.resumable !== null && state.resumable !== undefined && !init.fullRefresh) {
      const interrupted = Number(state.resumable);
      const { rows: done } = await tx.query(`SELECT step FROM refinery.steps WHERE run_id = $1 AND status IN ('success', 'skipped')`, [interrupted]);
      resumes = { runId: interrupted, completed: new Set(done.map((r) => String(r.step))) };
    }
    const runId = Number(state.id);
    await tx.execute(
      `INSERT INTO refinery.runs (run_id, project, status, started_at, full_refresh, pid, trigger, selection, resumes_run_id)
       VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8)`,
      [runId, init.project, init.startedAt, init.fullRefresh, process.pid, init.trigger, init.selection ?? null, resumes?.runId ?? null],
    );
    return { runId, ...(resumes ? { resumes } : {}) };
  });
}

export async function recordAttempt(
  session: SqlSession,
  record: { runId: number; step: string; attempt: number; startedAt: Date; endedAt: Date; status: string; retryable?: boolean; classification?: string; error?: string; nextAttemptAt?: Date },
): Promise<void> {
  await session.execute(
    `INSERT INTO refinery.attempts (run_id, step, attempt, started_at, ended_at, status, retryable, classification, error, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [record.runId, record.step, record.attempt, record.startedAt, record.endedAt, record.status, record.retryable ?? null, record.classification ?? null, record.error ?? null, record.nextAttemptAt ?? null],
  );
}

export async function finishRun(session: SqlSession, runId: number, status: RunStatus, endedAt: Date, error?: string): Promise<void> {
  await session.execute(`UPDATE refinery.runs SET status = $1, ended_at = $2, error = $3 WHERE run_id = $4`, [status, endedAt, error ?? null, runId]);
}

const STEP_COLUMNS = `run_id, step, kind, status, started_at, ended_at, duration_ms, rows_in, rows_written,
       rows_quarantined, rows_superseded, rows_warned, message, details, attempts`;

function stepValues(record: StepRecord): SqlParam[] {
  return [
      record.runId,
      record.step,
      record.kind,
      record.status,
      record.startedAt,
      record.endedAt,
      record.endedAt.getTime() - record.startedAt.getTime(),
      record.rowsIn,
      record.rowsWritten,
      record.rowsQuarantined,
      record.rowsSuperseded,
      record.rowsWarned,
      record.message ?? null,
      JSON.stringify(record.details),
      record.attempts ?? 1,
  ];
}

export async function recordStep(session: SqlSession, record: StepRecord): Promise<void> {
  await insertRecords(session, [record]);
}

function placeholders(offset: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `$${offset + i + 1}`).join(', ');
}

/**
 * Group commit for step records that have no data transaction of their own (tasks, skipped and failed steps).
 * A commit costs milliseconds of fsync: records that arrive while one is being written go together in the next,
 * so a graph of thousands of quick steps is not bound by commit latency. `finish()` when the run ends.
 * Silver, gold and integration steps never use this: their record commits with their data. Bronze steps use it
 * when no file transaction carried their record (nothing new, or a database or HTTP source).
 *
 * A skipped step's record is one nothing waits for (a resumed run redoes only tasks that recorded success), so it
 * lingers, up to `lingerMs`, for the next record to commit with, or for the run's end: written at once, its commit
 * lands in the middle of the steps still working (a bronze source with nothing new, next to one ingesting a file)
 * and slows their statements down.
 */
export class StepRecordBuffer {
  private queue: StepRecord[] = [];
  private writing: Promise<void> | undefined;
  private failure: unknown;
  /** Cancels the wait of lingering records, while they wait. */
  private lingering: (() => void) | undefined;

  constructor(
    private readonly warehouse: Warehouse,
    private readonly clock: Clock = systemClock,
    private readonly lingerMs = 1000,
  ) {}

  add(record: StepRecord): void {
    this.queue.push(record);
    if (record.status === 'skipped' && !this.writing) this.lingering ??= callAfter(this.clock, this.lingerMs, () => this.write());
    else this.write();
  }

  /** Commits the records still waiting together with `last` (the run's final status): one commit, not two. */
  async finish(last: (tx: SqlSession) => Promise<void>): Promise<void> {
    this.stopLingering();
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
    const waiting = this.queue.splice(0);
    await this.warehouse.transaction(async (tx) => {
      await insertRecords(tx, waiting);
      await last(tx);
    });
  }

  private stopLingering(): void {
    this.lingering?.();
    this.lingering = undefined;
  }

  private write(): void {
    this.stopLingering();
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await insertRecords(this.warehouse, this.queue.splice(0));
    } catch (error) {
      this.failure = error;
    } finally {
      this.writing = undefined;
    }
  }
}

async function insertRecords(session: SqlSession, records: readonly StepRecord[]): Promise<void> {
  for (let at = 0; at < records.length; at += 200) {
    const batch = records.slice(at, at + 200);
    const rows = batch.map((_, i) => `(${placeholders(i * 15, 15)})`).join(', ');
    await session.execute(`INSERT INTO refinery.steps (${STEP_COLUMNS}) VALUES ${rows}`, batch.flatMap(stepValues));
  }
}
