import type { Row, SqlSession } from '../warehouse/warehouse.js';

export interface RunSummary {
  readonly runId: number;
  readonly status: string;
  /** What started it: manual, api, schedule:<name>, file:<path>, pipeline:<project>, resume. */
  readonly trigger: string;
  /** The interrupted run it resumed. */
  readonly resumesRunId: number | null;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly durationMs: number | null;
  readonly rowsIngested: number;
  readonly silverWritten: number;
  readonly quarantined: number;
  readonly failedSteps: number;
  readonly error: string | null;
}

const toMs = (iso: unknown): number => Date.parse(`${String(iso)}Z`);

/** The most recent runs, newest first, with what each moved. */
export async function listRuns(session: SqlSession, limit: number): Promise<RunSummary[]> {
  const { rows } = await session.query(
    `SELECT r.run_id, r.status, r.trigger, r.resumes_run_id, r.started_at, r.ended_at, r.error,
            -- From the batches themselves: a run killed mid-ingest committed batches but no step record.
            coalesce((SELECT sum(b.rows) FROM refinery.batches b WHERE b.run_id = r.run_id), 0) AS rows_ingested,
            coalesce(sum(CASE WHEN s.kind = 'silver' THEN s.rows_written END), 0) AS silver_written,
            coalesce(sum(s.rows_quarantined), 0) AS quarantined,
            count(CASE WHEN s.status = 'failed' THEN 1 END) AS failed_steps
     FROM refinery.runs r LEFT JOIN refinery.steps s ON s.run_id = r.run_id
     GROUP BY r.run_id, r.status, r.trigger, r.resumes_run_id, r.started_at, r.ended_at, r.error
     ORDER BY r.run_id DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    runId: Number(r.run_id),
    status: String(r.status),
    trigger: String(r.trigger ?? 'manual'),
    resumesRunId: r.resumes_run_id === null ? null : Number(r.resumes_run_id),
    startedAt: String(r.started_at),
    endedAt: r.ended_at === null ? null : String(r.ended_at),
    durationMs: r.ended_at === null ? null : toMs(r.ended_at) - toMs(r.started_at),
    rowsIngested: Number(r.rows_ingested),
    silverWritten: Number(r.silver_written),
    quarantined: Number(r.quarantined),
    failedSteps: Number(r.failed_steps),
    error: r.error === null ? null : String(r.error),
  }));
}

export async function listSteps(session: SqlSession, runIds: readonly number[]): Promise<readonly Row[]> {
  if (runIds.length === 0) return [];
  const { rows } = await session.query(
    `SELECT run_id, step, kind, status, attempts, started_at, ended_at, duration_ms, rows_in, rows_written, rows_quarantined, rows_superseded, rows_warned, message, details
     FROM refinery.steps WHERE run_id IN (${runIds.map((id) => Number(id)).join(', ')}) ORDER BY run_id DESC, started_at, step`,
  );
  return rows.map((r) => ({ ...r, details: JSON.parse(String(r.details ?? '{}')) as unknown }));
}
