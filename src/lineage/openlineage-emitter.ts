import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan, SilverPlan, StepPlan } from '../config/plan.js';
import { callAfter, systemClock, type Clock } from '../orchestrator/clock.js';
import type { ProgressEvent, StepOutcome } from '../orchestrator/run-context.js';
import type { RunListener } from '../orchestrator/run-listener.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { sourceDataset, stepLineage, type ColumnCatalog, type StepLineage } from './column-lineage.js';
import { columnLineageFacet, facet, parentFacet, runEvent, schemaFacet, stableUuid, type EventType, type Facet, type OLDataset, type RunEvent } from './openlineage-events.js';

/** Where a run's OpenLineage events are written, one JSON event per line. */
export function lineageEventsFile(projectDir: string, runId: number): string {
  return join(projectDir, '.refinery', 'lineage', `${runId}.jsonl`);
}

export interface OpenLineageOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly progress?: (event: ProgressEvent) => void;
  /** How long one POST may take before the endpoint counts as down for the rest of the run. */
  readonly timeoutMs?: number;
  /** How long a step's end event may wait for the run's other steps to finish (see `stepEnded`). */
  readonly endEventDelayMs?: number;
  readonly clock?: Clock;
}

/**
 * Emits OpenLineage RunEvents for a run: START and COMPLETE/FAIL/ABORT for the run itself (the parent job, named
 * after the project) and for every step that starts (a job per step, with a parent facet pointing at the run).
 * Events are written to `.refinery/lineage/<runId>.jsonl` and, when configured, POSTed to an OpenLineage endpoint.
 * Facets are read after a step commits, in a queue of their own: a slow or failing endpoint, or a facet that
 * cannot be read, costs an event detail or a delivery, never the run.
 *
 * A step's end event waits, up to `endEventDelayMs` (5 s), for the run's end: its facets' queries (row counts,
 * the SQL parsed for column lineage) would otherwise run beside the next steps and slow them down — a tenth of an
 * incremental run on two cores, measured. Waiting end events are built together, the row counts of all their
 * tables in one query. Each table is written by one step per run, so its count at the end is its count after that
 * step; the events keep the time each step ended.
 */
export function openLineageListener(plan: Plan, warehouse: Warehouse, run: { runId: number; startedAt: Date }, options: OpenLineageOptions = {}): RunListener {
  return new OpenLineageEmitter(plan, warehouse, run, options);
}

class OpenLineageEmitter implements RunListener {
  private queue: Promise<void> = Promise.resolve();
  private readonly started = new Set<string>();
  private readonly catalog: ColumnCatalog = new Map();
  private readonly file: string;
  private fd: number | undefined;
  private readonly runUuid: string;
  private readonly namespace: string;
  private readonly warehouseNamespace: string;
  private readonly endpoint: { url?: string; problem?: string } | undefined;
  private delivery = { delivered: 0, undelivered: 0, errors: [] as string[] };
  /** End events waiting to be built, and the cancel of their deadline while they wait. */
  private waiting: { step: StepPlan; outcome: StepOutcome; at: Date }[] = [];
  private deadline: (() => void) | undefined;
  /** Row counts read for the events being built. */
  private counts = new Map<string, number>();

  constructor(
    private readonly plan: Plan,
    private readonly warehouse: Warehouse,
    private readonly run: { runId: number; startedAt: Date },
    private readonly options: OpenLineageOptions,
  ) {
    this.file = lineageEventsFile(plan.projectDir, run.runId);
    this.runUuid = stableUuid(plan.name, String(run.runId), run.startedAt.toISOString());
    this.namespace = plan.openlineage.namespace;
    this.warehouseNamespace = `${plan.warehouse.engine}://${plan.warehouse.path}`;
    const configured = plan.openlineage;
    if (configured.url) this.endpoint = { url: configured.url };
    else if (configured.urlEnv) {
      const url = (options.env ?? process.env)[configured.urlEnv];
      this.endpoint = url ? { url } : { problem: `environment variable ${configured.urlEnv} is not set` };
    }
  }

  runStarted(at: Date): void {
    this.enqueue(async () => runEvent({ eventType: 'START', at, runId: this.runUuid, job: { namespace: this.namespace, name: this.plan.name } }));
  }

  stepStarted(step: StepPlan, at: Date): void {
    this.started.add(step.name);
    this.enqueue(async () => {
      const { inputs, outputs } = this.declaredDatasets(step);
      return this.stepEvent(step, 'START', at, { inputs: inputs.map((n) => this.dataset(n)), outputs: outputs.map((n) => this.dataset(n)) });
    });
  }

  stepEnded(step: StepPlan, outcome: StepOutcome, at: Date): void {
    // A step that never started (its upstream failed, or the run was cancelled first) has no run to end.
    if (!this.started.has(step.name)) return;
    this.waiting.push({ step, outcome, at });
    this.deadline ??= callAfter(this.options.clock ?? systemClock, this.options.endEventDelayMs ?? 5000, () => this.buildWaiting());
  }

  /** Queues the waiting end events, after one query for the row counts of every table they describe. */
  private buildWaiting(): void {
    this.deadline?.();
    this.deadline = undefined;
    const waiting = this.waiting.splice(0);
    if (waiting.length === 0) return;
    this.enqueue(async () => {
      // Without them, each table's facet reads its own count (and says so if it cannot).
      this.counts = await this.rowCounts(waiting.filter((w) => w.outcome.status === 'success' || w.outcome.status === 'skipped').flatMap((w) => this.declaredDatasets(w.step).outputs)).catch(() => new Map<string, number>());
      return undefined;
    });
    for (const { step, outcome, at } of waiting) this.enqueue(() => this.endEvent(step, outcome, at));
  }

  private async rowCounts(names: readonly string[]): Promise<Map<string, number>> {
    const d = this.warehouse.dialect;
    const tables: string[] = [];
    for (const name of new Set(names)) {
      const [schema, table] = name.split('.', 2) as [string, string | undefined];
      if (table && (await this.warehouse.introspector.columns(schema, table)).length > 0) tables.push(name);
    }
    if (tables.length === 0) return new Map();
    const { rows } = await this.warehouse.query(`SELECT ${tables.map((t, i) => `(SELECT count(*) FROM ${d.table(...(t.split('.', 2) as [string, string]))}) AS c${i}`).join(', ')}`);
    return new Map(tables.map((t, i) => [t, Number(rows[0]?.[`c${i}`] ?? 0)]));
  }

  async runEnded(status: 'success' | 'failed' | 'cancelled', at: Date): Promise<void> {
    const eventType: EventType = status === 'success' ? 'COMPLETE' : status === 'failed' ? 'FAIL' : 'ABORT';
    this.buildWaiting();
    this.enqueue(async () => runEvent({ eventType, at, runId: this.runUuid, job: { namespace: this.namespace, name: this.plan.name } }));
    await this.queue;
    try {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      this.recordDelivery();
    } catch (error) {
      this.warn(`OpenLineage events could not be finished: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private recordDelivery(): void {
    if (this.endpoint) {
      const { delivered, undelivered, errors } = this.delivery;
      const record = { endpoint: this.endpoint.url ? safeHost(this.endpoint.url) : null, delivered, undelivered, errors };
      writeFileSync(this.file.replace(/\.jsonl$/, '.delivery.json'), `${JSON.stringify(record, null, 2)}\n`);
      if (undelivered > 0) this.warn(`${undelivered} OpenLineage event(s) were not delivered (${errors[0] ?? 'unknown error'}); all are in ${this.file}`);
    }
  }

  private enqueue(build: () => Promise<RunEvent | undefined>): void {
    this.queue = this.queue.then(async () => {
      let event: RunEvent | undefined;
      try {
        event = await build();
      } catch (error) {
        this.warn(`an OpenLineage event could not be built: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
      if (!event) return;
      try {
        this.write(event);
      } catch (error) {
        this.warn(`an OpenLineage event could not be written to ${this.file}: ${error instanceof Error ? error.message : String(error)}`);
      }
      await this.post(event);
    });
  }

  private write(event: RunEvent): void {
    if (this.fd === undefined) {
      mkdirSync(join(this.plan.projectDir, '.refinery', 'lineage'), { recursive: true });
      this.fd = openSync(this.file, 'a');
    }
    writeSync(this.fd, `${JSON.stringify(event)}\n`);
  }

  private async post(event: RunEvent): Promise<void> {
    if (!this.endpoint) return;
    const { url, problem } = this.endpoint;
    if (!url || this.delivery.errors.length > 0) {
      // After one failure the endpoint is taken as down for this run, so the run does not wait on it again.
      this.delivery.undelivered++;
      if (problem && this.delivery.errors.length === 0) this.delivery.errors.push(problem);
      return;
    }
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status} from ${safeHost(url)}`);
      this.delivery.delivered++;
    } catch (error) {
      this.delivery.undelivered++;
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, a DNS failure, a timeout) is its cause.
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      this.delivery.errors.push(`${error instanceof Error ? error.message : String(error)}${cause}`);
    }
  }

  private warn(message: string): void {
    this.options.progress?.({ type: 'log', step: 'openlineage', level: 'warn', message });
  }

  private stepEvent(step: StepPlan, eventType: EventType, at: Date, extra: { inputs?: OLDataset[]; outputs?: OLDataset[]; runFacets?: Record<string, Facet> }): RunEvent {
    const model = step.kind === 'gold' ? this.plan.gold.find((g) => g.name === step.table) : undefined;
    return runEvent({
      eventType,
      at,
      runId: stableUuid(this.runUuid, step.name),
      job: { namespace: this.namespace, name: step.name, ...(model ? { facets: { sql: facet('sql', { query: model.sql.trim(), dialect: this.warehouse.engine }) } } : {}) },
      runFacets: { parent: parentFacet({ runId: this.runUuid, namespace: this.namespace, name: this.plan.name }), ...extra.runFacets },
      ...(extra.inputs ? { inputs: extra.inputs } : {}),
      ...(extra.outputs ? { outputs: extra.outputs } : {}),
    });
  }

  /** What a step reads and writes, from the plan alone (for START, before anything is read). */
  private declaredDatasets(step: StepPlan): { inputs: string[]; outputs: string[] } {
    if (step.kind === 'bronze') {
      const source = this.plan.sources.find((s) => s.name === step.table);
      return { inputs: source ? [sourceDataset(source).name] : [], outputs: [step.name] };
    }
    if (step.kind === 'silver') {
      const table = this.plan.silver.find((s) => s.name === step.table);
      return table ? { inputs: [`bronze.${table.source}`, ...table.reads], outputs: [step.name, `quarantine.${table.name}`] } : { inputs: [], outputs: [] };
    }
    if (step.kind === 'gold') return { inputs: [...(this.plan.gold.find((g) => g.name === step.table)?.reads ?? [])], outputs: [step.name] };
    return { inputs: [], outputs: [] };
  }

  private async endEvent(step: StepPlan, outcome: StepOutcome, at: Date): Promise<RunEvent> {
    if (outcome.status !== 'success' && outcome.status !== 'skipped') {
      const { inputs, outputs } = this.declaredDatasets(step);
      const error = outcome.error?.message ?? outcome.message ?? outcome.status;
      return this.stepEvent(step, outcome.status === 'failed' ? 'FAIL' : 'ABORT', at, {
        inputs: inputs.map((n) => this.dataset(n)),
        outputs: outputs.map((n) => this.dataset(n)),
        runFacets: { errorMessage: facet('errorMessage', { message: error, programmingLanguage: 'TYPESCRIPT' }) },
      });
    }
    if (step.kind === 'task') return this.stepEvent(step, 'COMPLETE', at, {});
    const lineage = await stepLineage(this.plan, this.warehouse, step, this.catalog);
    const silver = step.kind === 'silver' ? this.plan.silver.find((s) => s.name === step.table) : undefined;
    const inputs: OLDataset[] = [];
    for (const name of lineage.inputs) {
      const isBronzeOfSilver = silver !== undefined && name === `bronze.${silver.source}`;
      inputs.push(this.dataset(name, {
        facets: await this.tableFacets(name, false),
        ...(isBronzeOfSilver || step.kind === 'bronze' ? { inputFacets: { dataQualityMetrics: facet('dataQualityMetricsInput', { rowCount: outcome.rowsIn, ...(step.kind === 'bronze' ? { fileCount: outcome.files.filter((f) => f.outcome === 'ingested' || f.outcome === 'changed').length } : {}), columnMetrics: {} }) } } : {}),
      }));
    }
    const outputs: OLDataset[] = [];
    for (const name of lineage.outputs) {
      const quarantine = name.startsWith('quarantine.');
      const facets = { ...(await this.tableFacets(name, true, quarantine || !silver ? undefined : outcome)) };
      const lineageFacet = columnLineageFacet(name, lineage.edges, (node) => this.locate(node, lineage));
      if (lineageFacet) facets.columnLineage = lineageFacet;
      if (silver && !quarantine && outcome.status === 'success') facets.dataQualityAssertions = assertionsFacet(silver, outcome);
      const written = quarantine ? outcome.rowsQuarantined : outcome.rowsWritten;
      outputs.push(this.dataset(name, { facets, outputFacets: { outputStatistics: facet('outputStatistics', { rowCount: written }) } }));
    }
    return this.stepEvent(step, 'COMPLETE', at, { inputs, outputs });
  }

  /** schema (from the warehouse) and, for outputs, dataQualityMetrics (row and null counts; silver's accounting). */
  private async tableFacets(name: string, metrics: boolean, accounting?: StepOutcome): Promise<Record<string, Facet>> {
    const [schema, table] = name.split('.', 2) as [string, string | undefined];
    if (!table || !['bronze', 'silver', 'quarantine', 'gold'].includes(schema)) return {};
    const columns = await this.warehouse.introspector.columns(schema, table);
    if (columns.length === 0) return {};
    const out: Record<string, Facet> = { schema: schemaFacet(columns) };
    if (!metrics) return out;
    const d = this.warehouse.dialect;
    // Null counts scan the whole table: only when asked for (openlineage.columnMetrics). A row count is cheap.
    const counts = this.plan.openlineage.columnMetrics ? columns.map((c, i) => `, count(${d.quoteIdent(c.name)}) AS c${i}`).join('') : '';
    const known = this.counts.get(name);
    const row = !counts && known !== undefined ? { n: known } : ((await this.warehouse.query(`SELECT count(*) AS n${counts} FROM ${d.table(schema, table)}`)).rows[0] ?? {});
    const rowCount = Number(row.n ?? 0);
    const columnMetrics = this.plan.openlineage.columnMetrics ? Object.fromEntries(columns.map((c, i) => [c.name, { nullCount: rowCount - Number(row[`c${i}`] ?? 0) }])) : {};
    const extra = accounting
      ? { rowsIn: accounting.rowsIn, rowsWritten: accounting.rowsWritten, rowsQuarantined: accounting.rowsQuarantined, rowsSuperseded: accounting.rowsSuperseded, rowsWarned: accounting.rowsWarned, quarantinedByReason: accounting.quarantinedByReason }
      : {};
    out.dataQualityMetrics = facet('dataQualityMetrics', { rowCount, columnMetrics, ...extra });
    return out;
  }

  private dataset(name: string, facets: { facets?: Record<string, Facet>; inputFacets?: Record<string, Facet>; outputFacets?: Record<string, Facet> } = {}): OLDataset {
    const source = this.plan.sources.map(sourceDataset).find((s) => s.name === name);
    const identity = !source
      ? { namespace: this.warehouseNamespace, name }
      : source.layer === 'landing'
        ? { namespace: 'file', name: join(this.plan.projectDir, name) }
        : { namespace: name.split(':', 1)[0] as string, name: name.slice(name.indexOf(':') + 1) };
    const nonEmpty = Object.entries(facets).filter(([, v]) => v && Object.keys(v).length > 0);
    return { ...identity, ...Object.fromEntries(nonEmpty) };
  }

  private locate(node: string, lineage: StepLineage): { namespace: string; name: string; field: string } | undefined {
    const names = [...lineage.datasets.map((d) => d.name), ...lineage.inputs].sort((a, b) => b.length - a.length);
    const owner = names.find((n) => node.startsWith(`${n}.`));
    if (!owner) return undefined;
    const { namespace, name } = this.dataset(owner);
    return { namespace, name, field: node.slice(owner.length + 1) };
  }
}

/** Each check of a silver table and whether it passed in this run: no row was quarantined or warned by it. */
function assertionsFacet(table: SilverPlan, outcome: StepOutcome): Facet {
  return facet('dataQualityAssertions', {
    assertions: table.checks.map((check) => {
      const failures = (check.action === 'warn' ? outcome.warningsByCheck[check.name] : outcome.quarantinedByReason[check.name]) ?? 0;
      return {
        assertion: check.name,
        success: failures === 0,
        ...(check.column ? { column: check.column } : {}),
        severity: check.action === 'warn' ? 'warn' : 'error',
        failures,
        properties: { action: check.action },
      };
    }),
  });
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}
