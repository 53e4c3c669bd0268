import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan, SchedulePlan } from '../config/plan.js';
import { listLandingFiles } from '../sources/landing-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { afterRun } from './after-run.js';
import { deliverAlerts, freshnessAlerts, type Alert } from './alerts.js';
import type { Clock } from './clock.js';
import type { LiveState } from './executor.js';
import { runPipeline, type RunReport } from './run-pipeline.js';
import { describeSchedule, lastMissedFire, nextFireTime } from './schedule.js';

/**
 * `refinery serve`: a long-running service that runs the project when its schedules fire, when a landing file
 * appears, when another pipeline succeeds, or when asked over HTTP — one run at a time, with an overlap policy
 * (skip, or queue one). Every wait goes through the injected Clock, so its behaviour is tested on virtual time.
 */
export interface RunRequest {
  readonly trigger: string;
  readonly select?: readonly string[];
  readonly fullRefresh?: boolean;
  readonly overlap: 'skip' | 'queue';
}

export interface RequestOutcome {
  readonly accepted: boolean;
  readonly state: 'started' | 'queued' | 'skipped';
  readonly reason: string;
}

export interface ServiceEvent {
  readonly type: 'run_started' | 'run_finished' | 'request_skipped' | 'request_queued' | 'schedule_fired' | 'alert' | 'log';
  readonly message: string;
  readonly report?: RunReport;
  readonly alert?: Alert;
}

export interface ServiceOptions {
  readonly plan: Plan;
  readonly warehouse: Warehouse;
  readonly clock: Clock;
  readonly env?: NodeJS.ProcessEnv;
  readonly onEvent?: (event: ServiceEvent) => void;
}

export class Service {
  private readonly stopping = new AbortController();
  private current: { promise: Promise<RunReport>; request: RunRequest; controller: AbortController; runId?: number; liveView?: () => ReadonlyMap<string, LiveState> } | undefined;
  private queued: RunRequest | undefined;
  private readonly loops: Promise<void>[] = [];
  private readonly finished: RunReport[] = [];
  private readonly nextFires = new Map<string, Date>();

  constructor(private readonly options: ServiceOptions) {}

  get plan(): Plan {
    return this.options.plan;
  }

  get warehouse(): Warehouse {
    return this.options.warehouse;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  /** Starts every loop: schedules (with catch-up), freshness deadlines, landing-file and upstream-pipeline triggers. */
  async start(): Promise<void> {
    const { plan } = this.options;
    const { rows } = await this.options.warehouse.query(`SELECT status FROM refinery.runs ORDER BY run_id DESC LIMIT 1`);
    if (rows[0]?.status === 'running' || rows[0]?.status === 'interrupted') {
      this.requestRun({ trigger: 'resume', overlap: 'queue' });
    }
    // Catch-ups happen before start() returns, so a caller sees their runs requested.
    for (const schedule of plan.schedules) await this.catchUp(schedule);
    for (const schedule of plan.schedules) this.loops.push(this.scheduleLoop(schedule));
    for (const deadline of plan.alerts.freshness) this.loops.push(this.freshnessLoop(deadline));
    if (plan.triggers.files) this.loops.push(this.fileLoop(plan.triggers.files.pollEveryMs, plan.triggers.files.select));
    for (const upstream of plan.triggers.afterPipelines) this.loops.push(this.pipelineLoop(upstream.project, upstream.select));
  }

  /** Stops the loops, cancels a run in progress (it rolls back what it had not committed) and waits for it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.queued = undefined;
    this.current?.controller.abort(new Error('the service is stopping'));
    await Promise.allSettled([...this.loops, this.current?.promise]);
  }

  requestRun(request: RunRequest): RequestOutcome {
    if (this.stopping.signal.aborted) return { accepted: false, state: 'skipped', reason: 'the service is stopping' };
    if (!this.current) {
      this.begin(request);
      return { accepted: true, state: 'started', reason: `run started (${request.trigger})` };
    }
    if (request.overlap === 'queue' && !this.queued) {
      this.queued = request;
      this.emit({ type: 'request_queued', message: `${request.trigger}: a run is in progress; queued to run after it` });
      return { accepted: true, state: 'queued', reason: 'a run is in progress; this one is queued to run after it' };
    }
    const reason = request.overlap === 'queue' ? 'a run is in progress and another is already queued' : 'a run is in progress (overlap policy: skip)';
    this.emit({ type: 'request_skipped', message: `${request.trigger}: skipped, ${reason}` });
    return { accepted: false, state: 'skipped', reason };
  }

  /** The run in progress, if any, and where each of its steps is. */
  status(): { running?: { runId?: number; trigger: string; live: Record<string, LiveState> }; queued?: string; nextFires: Record<string, string> } {
    return {
      ...(this.current ? { running: { ...(this.current.runId ? { runId: this.current.runId } : {}), trigger: this.current.request.trigger, live: Object.fromEntries(this.current.liveView?.() ?? []) } } : {}),
      ...(this.queued ? { queued: this.queued.trigger } : {}),
      nextFires: Object.fromEntries([...this.nextFires].map(([k, v]) => [k, v.toISOString()])),
    };
  }

  /** Runs finished since the service started, oldest first. */
  get history(): readonly RunReport[] {
    return this.finished;
  }

  /** Resolves when the run in progress (and any queued after it) has finished. */
  async idle(): Promise<void> {
    while (this.current) await this.current.promise.catch(() => undefined);
  }

  private begin(request: RunRequest): void {
    const controller = new AbortController();
    const slot: NonNullable<Service['current']> = { request, controller, promise: Promise.resolve(undefined as unknown as RunReport) };
    this.current = slot;
    this.emit({ type: 'run_started', message: `run started (${request.trigger}${request.select?.length ? `, select ${request.select.join(' ')}` : ''})` });
    slot.promise = runPipeline(this.options.plan, this.options.warehouse, {
      clock: this.options.clock,
      trigger: request.trigger,
      signal: controller.signal,
      ...(request.select?.length ? { select: request.select } : {}),
      ...(request.fullRefresh ? { fullRefresh: true } : {}),
      onLive: (runId, live) => {
        slot.runId = runId;
        slot.liveView = live;
      },
    });
    slot.promise.then(
      (report) => this.afterRun(report),
      (error: unknown) => this.afterFailure(error),
    );
  }

  private async afterRun(report: RunReport): Promise<void> {
    this.finished.push(report);
    try {
      const alerts = await afterRun(this.options.plan, this.options.warehouse, this.options.clock, report, this.options.env);
      for (const alert of alerts) this.emit({ type: 'alert', message: alert.text, alert });
    } catch (error) {
      this.emit({ type: 'log', message: `after run ${report.runId}: ${error instanceof Error ? error.message : String(error)}` });
    } finally {
      this.emit({ type: 'run_finished', message: `run ${report.runId} ${report.status} (${report.steps.filter((s) => s.status === 'success').length} steps succeeded)`, report });
      this.next();
    }
  }

  private afterFailure(error: unknown): void {
    this.emit({ type: 'log', message: `run could not start: ${error instanceof Error ? error.message : String(error)}` });
    this.next();
  }

  private next(): void {
    this.current = undefined;
    const queued = this.queued;
    this.queued = undefined;
    if (queued && !this.stopping.signal.aborted) this.begin(queued);
  }

  private async deliver(alerts: Alert[]): Promise<void> {
    await deliverAlerts(this.options.plan, alerts, this.options.warehouse, this.options.clock, this.options.env);
    for (const alert of alerts) this.emit({ type: 'alert', message: alert.text, alert });
  }

  /** Off by default: with a window, the latest fire time missed while the service was down (and not older) runs once. */
  private async catchUp(schedule: SchedulePlan): Promise<void> {
    if (schedule.catchUpMs <= 0) return;
    const { clock, warehouse } = this.options;
    const { rows } = await warehouse.query(`SELECT max(fire_time) AS last FROM refinery.schedule_fires WHERE schedule = $1`, [schedule.name]);
    const now = clock.now();
    const windowStart = new Date(now.getTime() - schedule.catchUpMs);
    const last = rows[0]?.last ? new Date(`${String(rows[0].last)}Z`) : undefined;
    const since = last && last > windowStart ? last : windowStart;
    const missed = lastMissedFire(schedule, since, now);
    if (missed) await this.fire(schedule, missed, ' (catch-up)');
  }

  private async scheduleLoop(schedule: SchedulePlan): Promise<void> {
    const { clock } = this.options;
    const signal = this.stopping.signal;
    let from = clock.now();
    while (!signal.aborted) {
      const next = nextFireTime(schedule, from);
      this.nextFires.set(schedule.name, next);
      try {
        await clock.sleep(next.getTime() - clock.now().getTime(), signal);
      } catch {
        return;
      }
      await this.fire(schedule, next, '');
      from = next;
    }
  }

  private async fire(schedule: SchedulePlan, fireTime: Date, note: string): Promise<void> {
    const outcome = this.requestRun({ trigger: `schedule:${schedule.name}`, select: schedule.select, overlap: schedule.overlap });
    this.emit({ type: 'schedule_fired', message: `schedule ${schedule.name} (${describeSchedule(schedule)}) fired for ${fireTime.toISOString()}${note}: ${outcome.reason}` });
    await this.options.warehouse.execute(`INSERT INTO refinery.schedule_fires (schedule, fire_time, fired_at, run_id, outcome) VALUES ($1, $2, $3, NULL, $4)`, [
      schedule.name,
      fireTime,
      this.options.clock.now(),
      outcome.state === 'started' ? 'started' : outcome.state === 'queued' ? 'queued' : 'skipped_overlap',
    ]);
  }

  private async freshnessLoop(deadline: Plan['alerts']['freshness'][number]): Promise<void> {
    const [hour, minute] = deadline.by.split(':');
    const schedule: SchedulePlan = { name: `freshness ${deadline.table}`, cron: `0 ${Number(minute)} ${Number(hour)} * * *`, timezone: deadline.timezone, select: [], overlap: 'skip', catchUpMs: 0 };
    const { clock } = this.options;
    let from = clock.now();
    while (!this.stopping.signal.aborted) {
      const next = nextFireTime(schedule, from);
      try {
        await clock.sleep(next.getTime() - clock.now().getTime(), this.stopping.signal);
      } catch {
        return;
      }
      const alerts = await freshnessAlerts(this.options.plan, this.options.warehouse, deadline, clock.now());
      if (alerts.length > 0) await this.deliver(alerts);
      from = next;
    }
  }

  private async fileLoop(pollEveryMs: number, select: readonly string[]): Promise<void> {
    const { clock, plan } = this.options;
    let previous = await this.landingSignature();
    while (!this.stopping.signal.aborted) {
      try {
        await clock.sleep(pollEveryMs, this.stopping.signal);
      } catch {
        return;
      }
      const current = await this.landingSignature();
      if (current.signature !== previous.signature) {
        const added = current.files.filter((f) => !previous.files.includes(f));
        previous = current;
        this.requestRun({ trigger: `file:${added[0] ?? 'changed'}`, select, overlap: plan.triggers.overlap });
      }
    }
  }

  /** Paths, sizes and modification times of every landing file: a new or rewritten file changes it. */
  private async landingSignature(): Promise<{ signature: string; files: string[] }> {
    const { plan } = this.options;
    const entries: string[] = [];
    const files: string[] = [];
    for (const source of plan.sources) {
      if (source.kind !== 'files') continue;
      for (const rel of await listLandingFiles(plan.projectDir, source.path)) {
        try {
          const stat = statSync(join(plan.projectDir, rel));
          entries.push(`${rel}:${stat.size}:${stat.mtimeMs}`);
          files.push(rel);
        } catch {
          // The file went away between listing and stat: it is not there.
        }
      }
    }
    return { signature: entries.join('|'), files };
  }

  private async pipelineLoop(project: string, select: readonly string[]): Promise<void> {
    const { clock, plan } = this.options;
    const read = (): string | undefined => {
      try {
        return existsSync(lastSuccessPath(project)) ? readFileSync(lastSuccessPath(project), 'utf8') : undefined;
      } catch {
        return undefined;
      }
    };
    let previous = read();
    while (!this.stopping.signal.aborted) {
      try {
        await clock.sleep(2000, this.stopping.signal);
      } catch {
        return;
      }
      const current = read();
      if (current && current !== previous) {
        previous = current;
        const upstream = JSON.parse(current) as { project: string; runId: number };
        this.requestRun({ trigger: `pipeline:${upstream.project}#${upstream.runId}`, select, overlap: plan.triggers.overlap });
      }
    }
  }

  private emit(event: ServiceEvent): void {
    this.options.onEvent?.(event);
  }
}

/** Written after each successful run, for pipelines downstream of this one. */
export function lastSuccessPath(projectDir: string): string {
  return join(projectDir, '.refinery', 'last-success.json');
}
