import type { SqlDialect, SqlSession } from '../warehouse/warehouse.js';
import type { IntegrationPlan } from './integration-plan.js';

/** What every stage of one integration step works with: one transaction, the dialect, the plan and the run's clock time. */
export interface IntegrationRun {
  readonly tx: SqlSession;
  readonly d: SqlDialect;
  readonly plan: IntegrationPlan;
  readonly runId: number;
  /** The run clock's time: ages (timeliness, trust decay) are measured from it, never from the engine's clock. */
  readonly now: Date;
}

/**
 * Work tables of one step. They are temporary, so they live on the step's own connection and vanish with it;
 * a failed or retried step never sees another attempt's leftovers.
 */
export const WORK = {
  /** Every source record, mapped to the canonical fields (one row per source and key). */
  records: '_ir_records',
  /** Record → master id after matching, with how it was matched. */
  members: '_ir_members',
  /** Each current record's row of the cross-reference from before this run (master id, hash, first run, ...). */
  prior: '_ir_prior',
  /** Master ids whose golden record must be resolved again this run. */
  affected: '_ir_affected',
} as const;

export function goldTable(run: IntegrationRun, role: keyof IntegrationPlan['tables']): string {
  return run.d.table('gold', run.plan.tables[role]);
}

/** Column names of the canonical field in the records table: its value, its value as the source held it, normalised. */
export const rawColumn = (field: string): string => `_raw_${field}`;
export const normColumn = (field: string): string => `_n_${field}`;

/** Runs statements in order (set-based SQL; the loop is over statements, not rows). */
export async function runAll(run: IntegrationRun, statements: readonly string[]): Promise<void> {
  for (const sql of statements) await run.tx.execute(sql);
}

export async function count(run: IntegrationRun, sql: string): Promise<number> {
  const { rows } = await run.tx.query(sql);
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
}

/**
 * Golden tables small enough to be read by a person are stored in key order, so `refinery show` reads well; past this
 * many rows they are queried rather than read, and sorting would cost more than the rest of the step.
 */
export const SORTED_OUTPUT_LIMIT = 200_000;

export function readableOrder(rows: number, clause: string): string {
  return rows <= SORTED_OUTPUT_LIMIT ? `ORDER BY ${clause}` : '';
}
