import { pipelineError } from '../errors.js';
import { record } from '../layers/silver-build.js';
import { readStepState, writeTableState } from '../layers/table-state.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { plural } from '../text.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import { countChanges, ensureCrossReference, markAffected, rewriteCrossReference, type RecordChanges } from './cross-reference.js';
import { countConsistency, writeGoldenRecords } from './golden-record.js';
import { outputTables, type IntegrationPlan } from './integration-plan.js';
import type { IntegrationRun } from './integration-run.js';
import { mapRecords } from './mapping.js';
import { keyOnly, matchRecords, type MatchSummary } from './matching.js';
import { writeProvenance } from './provenance.js';
import { writeSourceScorecard } from './quality.js';
import { collectEntities, resolveFields } from './survivorship.js';

type Fingerprints = IntegrationPlan['fingerprints'];

/** What an integration's state records of its rules (refinery.tables.fingerprint): a change re-resolves records. */
export function integrationFingerprint(f: Fingerprints): string {
  return [f.shape, f.survivorship, f.matching, f.mapping].join('.');
}

function decode(text: string | undefined): Partial<Fingerprints> {
  const [shape, survivorship, matching, mapping] = (text ?? '').split('.');
  return { shape, survivorship, matching, mapping };
}

/** Why every entity is resolved again this run, or undefined when only changed ones are. */
function resolveAllBecause(ctx: StepContext, plan: IntegrationPlan, before: Partial<Fingerprints> | undefined, goldExists: boolean): string | undefined {
  if (ctx.fullRefresh) return 'full refresh requested';
  if (!before || !goldExists) return 'first build';
  if (before.shape !== plan.fingerprints.shape) return 'its fields changed';
  if (before.survivorship !== plan.fingerprints.survivorship) return 'its survivorship rules changed';
  return undefined;
}

function describe(plan: IntegrationPlan, allBecause: string | undefined, match: MatchSummary, resolved: number, affected: number, changes: RecordChanges, duplicates: number): string {
  const entity = plan.entity;
  const parts: string[] = [];
  if (allBecause) parts.push(`${allBecause}: resolved all ${plural(resolved, `${entity} record`)}`);
  else parts.push(`re-resolved ${resolved} ${entity} record${resolved === 1 ? '' : 's'} (${changes.changed} source record${changes.changed === 1 ? '' : 's'} new or changed, ${changes.removed} gone)`);
  if (affected > resolved) parts.push(`${affected - resolved} ${entity} record${affected - resolved === 1 ? '' : 's'} removed: no source record left`);
  if (match.fresh > 0) parts.push(`matched ${match.fresh} new record${match.fresh === 1 ? '' : 's'}: ${match.joinedExisting} into existing ${entity} records, ${match.newEntities} new ${entity} record${match.newEntities === 1 ? '' : 's'}`);
  if (match.released > 0) parts.push(`${match.released} record${match.released === 1 ? '' : 's'} moved by overrides`);
  if (duplicates > 0) parts.push(`${duplicates} duplicate source record${duplicates === 1 ? '' : 's'} ignored (same key, older)`);
  return parts.join('; ');
}

async function tablesExist(ctx: StepContext, tx: SqlSession, plan: IntegrationPlan, roles: readonly (keyof IntegrationPlan['tables'])[]): Promise<boolean> {
  for (const role of roles) if (!(await ctx.warehouse.introspector.tableExists('gold', plan.tables[role], tx))) return false;
  return true;
}

/**
 * The integration step: silver records of several sources → golden records with provenance, the cross-reference and
 * the source scorecard, in one transaction with its state and step record. Skipped when nothing it reads and none of
 * its rules changed; otherwise only entities whose records changed are resolved again, unless a rule change or
 * --full-refresh asks for all. Master ids survive everything, --full-refresh included (see cross-reference.ts).
 */
export async function runIntegration(ctx: StepContext, plan: IntegrationPlan): Promise<StepOutcome> {
  const step = `integrate.${plan.name}`;
  const started = ctx.clock.now();
  const { warehouse } = ctx;
  return warehouse.transaction(async (tx) => {
    const { state, inputs } = await readStepState(tx, step, plan.reads);
    const fingerprint = integrationFingerprint(plan.fingerprints);
    const goldExists = await tablesExist(ctx, tx, plan, ['master', 'provenance', 'xref', 'sourceQuality']);
    if (!ctx.fullRefresh && state && goldExists && state.fingerprint === fingerprint && state.inputs === inputs) {
      const outcome: StepOutcome = { ...emptyOutcome(step, 'integrate'), status: 'skipped', message: 'up to date: nothing it reads and none of its rules changed', durationMs: 0 };
      await record(tx, ctx, outcome, started);
      return outcome;
    }
    const types = new Map<string, ReadonlyMap<string, string>>();
    for (const source of plan.sources) {
      const columns = await warehouse.introspector.columns(source.schema, source.table, tx);
      types.set(source.name, new Map(columns.map((c) => [c.name, c.type])));
      if (columns.length === 0) {
        throw pipelineError({
          code: 'integration_source_missing',
          step,
          table: `${source.schema}.${source.table}`,
          message: `integrate.${plan.name} reads ${source.schema}.${source.table} for source '${source.name}', but that table does not exist yet.`,
          hint: `Run the step that builds it first (refinery run --select +${step}).`,
        });
      }
    }
    const run: IntegrationRun = { tx, d: warehouse.dialect, plan, runId: ctx.runId, now: ctx.clock.now() };
    const before = state ? decode(state.fingerprint) : undefined;
    const allBecause = resolveAllBecause(ctx, plan, before, await tablesExist(ctx, tx, plan, ['master', 'provenance']));
    await ensureCrossReference(run);
    const mapping = await mapRecords(run, types, !keyOnly(plan));
    const match = await matchRecords(run);
    const changes = await countChanges(run);
    const affected = await markAffected(run, allBecause !== undefined, changes);
    let resolved = 0;
    if (allBecause !== undefined || affected > 0) {
      await collectEntities(run, allBecause !== undefined);
      await resolveFields(run);
      await writeProvenance(run, allBecause !== undefined, affected);
      resolved = await writeGoldenRecords(run, allBecause !== undefined, affected);
      await countConsistency(run);
    }
    const changed = allBecause !== undefined || affected > 0 || changes.changed > 0 || changes.removed > 0 || !goldExists;
    if (changed) {
      await rewriteCrossReference(run, { resolved: allBecause !== undefined || affected > 0, all: allBecause !== undefined, records: mapping.records, affected, changes });
      await writeSourceScorecard(run);
    }
    const version = changed ? ctx.runId : (state?.version ?? ctx.runId);
    const now = ctx.clock.now();
    for (const table of [step, ...outputTables(plan)]) await writeTableState(tx, table, { fingerprint, lastBatchId: 0, inputs, version }, now);
    const message = changed ? describe(plan, allBecause, match, resolved, affected, changes, mapping.duplicates) : `no source record changed: ${plural(mapping.records, 'record')} checked`;
    const outcome: StepOutcome = { ...emptyOutcome(step, 'integrate'), status: 'success', rowsIn: mapping.records, rowsWritten: resolved, message, durationMs: ctx.clock.now().getTime() - started.getTime() };
    await record(tx, ctx, outcome, started);
    return outcome;
  }, { signal: ctx.signal });
}

