import type { SqlSession, Warehouse } from '../warehouse/warehouse.js';

export type RunStatus = 'running' | 'success' | 'failed' | 'interrupted';
export type StepStatus = 'success' | 'skipped' | 'failed' | 'upstream_failed';

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
}

export async function startRun(warehouse: Warehouse, init: { project: string; startedAt: Date; fullRefresh: boolean }): Promise<number> {
  return warehouse.transaction(async (tx) => {
    // A run still marked running belongs to a process that died: nothing else can hold the warehouse now.
    await tx.execute(`UPDATE refinery.runs SET status = 'interrupted', ended_at = $1 WHERE status = 'running'`, [init.startedAt]);
    const { rows } = await tx.query(`SELECT nextval('refinery.run_ids') AS id`);
    const runId = Number(rows[0]?.id);
    await tx.execute(
      `INSERT INTO refinery.runs (run_id, project, status, started_at, full_refresh, pid) VALUES ($1, $2, 'running', $3, $4, $5)`,
      [runId, init.project, init.startedAt, init.fullRefresh, process.pid],
    );
    return runId;
  });
}

export async function finishRun(warehouse: Warehouse, runId: number, status: RunStatus, endedAt: Date, error?: string): Promise<void> {
  await warehouse.execute(`UPDATE refinery.runs SET status = $1, ended_at = $2, error = $3 WHERE run_id = $4`, [status, endedAt, error ?? null, runId]);
}

export async function recordStep(session: SqlSession, record: StepRecord): Promise<void> {
  await session.execute(
    `INSERT INTO refinery.steps (run_id, step, kind, status, started_at, ended_at, duration_ms, rows_in, rows_written,
       rows_quarantined, rows_superseded, rows_warned, message, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
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
    ],
  );
}
