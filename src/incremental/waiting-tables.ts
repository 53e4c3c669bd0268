import type { Plan } from '../config/plan.js';
import { integrationFingerprint } from '../integrate/integrate-step.js';
import { outputTables } from '../integrate/integration-plan.js';
import { replacedBatches } from '../layers/bronze-batches.js';
import { parseInputs } from '../layers/silver-build.js';
import { inputVersions, readTableState, type TableState } from '../layers/table-state.js';
import type { Warehouse } from '../warehouse/warehouse.js';

/**
 * Tables that wait for a build: something they read changed after they were last built (a `refinery run --select`
 * that rebuilt an input but not what reads it, bronze batches silver has not consumed, rules edited since), or a
 * table upstream of them waits. Such a table is not wrong, only behind: a rebuild from scratch differs from it
 * until the next run. Read from refinery.tables (the versions each build recorded); nothing is rebuilt.
 */
export interface WaitingStep {
  /** The step that builds the tables: `silver.orders`, `gold.customer_360`, `integrate.customers`. */
  readonly step: string;
  /** The tables that step writes (its quarantine table included). */
  readonly tables: readonly string[];
  /** What changed since it was built: tables it reads, its bronze table, or `its rules`; for a table waiting on another, that one's. */
  readonly since: readonly string[];
  /** `refinery run --select` selectors that bring it up to date. */
  readonly select: readonly string[];
  /** One plain sentence: `gold.x has not been built since silver.y changed (run without --select, or --select silver.y+)`. */
  readonly message: string;
}

interface Direct {
  /** `has not been built since silver.y changed` */
  readonly reason: string;
  readonly since: readonly string[];
  readonly select: readonly string[];
}

interface BuiltStep {
  readonly tables: readonly string[];
  /** Why the step is behind its inputs, judged on its own (not its upstream), or undefined when it is current. */
  readonly direct: () => Promise<Direct | undefined>;
}

/** Why a step waits: `root` is the step whose own inputs changed (itself, or one upstream of it). */
interface Verdict extends Direct {
  readonly root: string;
}

export async function waitingSteps(plan: Plan, warehouse: Warehouse): Promise<WaitingStep[]> {
  const steps = builtSteps(plan, warehouse);
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  const verdicts = new Map<string, Promise<Verdict | undefined>>();
  const judge = (name: string): Promise<Verdict | undefined> => {
    const known = verdicts.get(name);
    if (known) return known;
    const verdict = (async (): Promise<Verdict | undefined> => {
      const built = steps.get(name);
      if (!built) return undefined;
      const direct = await built.direct();
      if (direct) return { ...direct, root: name };
      for (const upstream of byName.get(name)?.dependsOn ?? []) {
        const waiting = await judge(upstream);
        if (waiting) return waiting;
      }
      return undefined;
    })();
    verdicts.set(name, verdict);
    return verdict;
  };
  const out: WaitingStep[] = [];
  for (const s of plan.steps) {
    const built = steps.get(s.name);
    const v = await judge(s.name);
    if (!built || !v) continue;
    const why = v.root === s.name ? v.reason : `waits for ${v.root}, which ${v.reason}`;
    out.push({ step: s.name, tables: built.tables, since: v.since, select: v.select, message: `${s.name} ${why} (run without --select, or --select ${v.select.join(' ')})` });
  }
  return out;
}

function builtSteps(plan: Plan, warehouse: Warehouse): Map<string, BuiltStep> {
  const steps = new Map<string, BuiltStep>();
  const stateOf = (step: string): Promise<TableState | undefined> => readTableState(warehouse, step);
  for (const table of plan.silver) {
    const step = `silver.${table.name}`;
    steps.set(step, {
      tables: [step, `quarantine.${table.name}`],
      direct: async () => {
        const state = await stateOf(step);
        if (!state) return notBuilt(step);
        if (state.fingerprint !== table.fingerprint) return rulesChanged(step);
        const recorded = parseInputs(state.inputs);
        const changed = changedTables(recorded.reads, JSON.parse(await inputVersions(warehouse, table.reads)) as unknown);
        if (changed.length > 0) return inputsChanged(changed);
        if (!(await warehouse.introspector.tableExists('bronze', table.source))) return undefined;
        const d = warehouse.dialect;
        const maxBatch = Number((await warehouse.query(`SELECT coalesce(max(_batch_id), 0) AS m FROM ${d.table('bronze', table.source)}`)).rows[0]?.m ?? 0);
        const replaced = (await replacedBatches(warehouse, table.source)).filter((b) => b <= maxBatch);
        if (maxBatch > state.lastBatchId || JSON.stringify(replaced) !== JSON.stringify(recorded.replaced)) {
          return { reason: `has not been built since bronze.${table.source} received new batches`, since: [`bronze.${table.source}`], select: [`${step}+`] };
        }
        return undefined;
      },
    });
  }
  for (const model of plan.gold) {
    const step = `gold.${model.name}`;
    steps.set(step, {
      tables: [step, `quarantine.gold_${model.name}`],
      direct: async () => {
        const state = await stateOf(step);
        if (!state) return notBuilt(step);
        if (state.fingerprint !== model.fingerprint) return rulesChanged(step);
        const changed = changedTables(JSON.parse(state.inputs) as unknown, JSON.parse(await inputVersions(warehouse, model.reads)) as unknown);
        return changed.length > 0 ? inputsChanged(changed) : undefined;
      },
    });
  }
  for (const integration of plan.integrations) {
    const step = `integrate.${integration.name}`;
    steps.set(step, {
      tables: outputTables(integration),
      direct: async () => {
        const state = await stateOf(step);
        if (!state) return notBuilt(step);
        if (state.fingerprint !== integrationFingerprint(integration.fingerprints)) return rulesChanged(step);
        const changed = changedTables(JSON.parse(state.inputs) as unknown, JSON.parse(await inputVersions(warehouse, integration.reads)) as unknown);
        return changed.length > 0 ? inputsChanged(changed) : undefined;
      },
    });
  }
  return steps;
}

/** Tables whose recorded version differs from the current one (read versions, as `inputVersions` writes them). */
function changedTables(recorded: unknown, current: unknown): string[] {
  const a = (recorded ?? {}) as Record<string, number>;
  const b = (current ?? {}) as Record<string, number>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((t) => a[t] !== b[t]).sort();
}

function notBuilt(step: string): Direct {
  return { reason: 'has not been built yet', since: [], select: [`+${step}`] };
}

function rulesChanged(step: string): Direct {
  return { reason: 'has not been built since its rules changed in the project file', since: ['its rules'], select: [`${step}+`] };
}

function inputsChanged(tables: readonly string[]): Direct {
  const names = tables.length === 1 ? (tables[0] as string) : `${tables.slice(0, -1).join(', ')} and ${tables.at(-1) as string}`;
  return { reason: `has not been built since ${names} changed`, since: tables, select: tables.map((t) => `${t}+`) };
}
