import { spawn } from 'node:child_process';
import type { Plan } from '../config/plan.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import type { Clock } from './clock.js';
import type { RunReport } from './run-pipeline.js';

/**
 * Alerts, one per root cause: a step's final failure (never a retry) together with the steps it kept from
 * running; a quality threshold breached; a freshness deadline missed. Delivered to a webhook (JSON with a
 * Slack-compatible `text`) and/or a shell command, and recorded in refinery.alerts.
 */
export interface Alert {
  readonly kind: 'step_failed' | 'quality' | 'freshness';
  readonly project: string;
  readonly runId?: number;
  /** The step or table the alert is about. */
  readonly subject: string;
  readonly text: string;
  readonly downstream?: readonly string[];
  readonly error?: string;
}

export function alertsForRun(plan: Plan, report: RunReport): Alert[] {
  const alerts: Alert[] = [];
  const byName = new Map(report.steps.map((s) => [s.step, s]));
  const dependents = new Map<string, string[]>();
  for (const s of plan.steps) for (const d of s.dependsOn) dependents.set(d, [...(dependents.get(d) ?? []), s.name]);
  for (const failed of report.steps.filter((s) => s.status === 'failed')) {
    // Everything this failure kept from running — but not what another failure kept from running only.
    const downstream = new Set<string>();
    const visit = (name: string): void => {
      for (const d of dependents.get(name) ?? []) {
        if (byName.get(d)?.status === 'upstream_failed' && !downstream.has(d)) {
          downstream.add(d);
          visit(d);
        }
      }
    };
    visit(failed.step);
    const list = [...downstream];
    const cause = (failed.error?.message ?? failed.message ?? '').replace(`${failed.step}: `, '');
    alerts.push({
      kind: 'step_failed',
      project: plan.name,
      runId: report.runId,
      subject: failed.step,
      downstream: list,
      error: cause,
      text: `[${plan.name}] ${failed.step} failed${failed.attempts && failed.attempts > 1 ? ` after ${failed.attempts} attempts` : ''}${list.length > 0 ? ` → ${list.length} downstream step${list.length === 1 ? '' : 's'} did not run (${list.join(', ')})` : ''}. Cause: ${cause}`,
    });
  }
  for (const rule of plan.alerts.quality) {
    const step = byName.get(rule.table);
    if (!step || step.status !== 'success' || step.rowsIn === 0) continue;
    const pct = (100 * step.rowsQuarantined) / step.rowsIn;
    if (pct <= rule.maxQuarantinedPct) continue;
    const reasons = Object.entries(step.quarantinedByReason).map(([r, n]) => `${r} ${n}`).join(', ');
    alerts.push({
      kind: 'quality',
      project: plan.name,
      runId: report.runId,
      subject: rule.table,
      text: `[${plan.name}] ${rule.table} quarantined ${pct.toFixed(1)}% of ${step.rowsIn} incoming rows (limit ${rule.maxQuarantinedPct}%): ${reasons}.`,
    });
  }
  return alerts;
}

/** Tables whose freshness deadline has passed without a build since the previous deadline. */
export async function freshnessAlerts(plan: Plan, session: SqlSession, deadline: { table: string; by: string; timezone: string }, at: Date): Promise<Alert[]> {
  const { rows } = await session.query(`SELECT built_at FROM refinery.tables WHERE table_name = $1`, [deadline.table]);
  const builtAt = rows[0]?.built_at ? new Date(`${String(rows[0].built_at)}Z`) : undefined;
  const since = new Date(at.getTime() - 24 * 3_600_000);
  if (builtAt && builtAt.getTime() > since.getTime()) return [];
  return [
    {
      kind: 'freshness',
      project: plan.name,
      subject: deadline.table,
      text: `[${plan.name}] ${deadline.table} was not refreshed by ${deadline.by} (${deadline.timezone}); last built ${builtAt ? builtAt.toISOString() : 'never'}.`,
    },
  ];
}

export interface Delivery {
  readonly channel: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export async function deliverAlerts(plan: Plan, alerts: readonly Alert[], session: SqlSession, clock: Clock, env: NodeJS.ProcessEnv = process.env): Promise<Delivery[][]> {
  const results: Delivery[][] = [];
  for (const alert of alerts) {
    const deliveries: Delivery[] = [];
    const url = plan.alerts.webhook?.url ?? (plan.alerts.webhook?.urlEnv ? env[plan.alerts.webhook.urlEnv] : undefined);
    if (plan.alerts.webhook) deliveries.push(url ? await postWebhook(url, alert) : { channel: 'webhook', ok: false, detail: `environment variable ${plan.alerts.webhook.urlEnv} is not set` });
    if (plan.alerts.command) deliveries.push(await runCommand(plan.alerts.command, alert, env));
    await session.execute(`INSERT INTO refinery.alerts (sent_at, kind, run_id, subject, text, channels) VALUES ($1, $2, $3, $4, $5, $6)`, [clock.now(), alert.kind, alert.runId ?? null, alert.subject, alert.text, JSON.stringify(deliveries)]);
    results.push(deliveries);
  }
  return results;
}

async function postWebhook(url: string, alert: Alert): Promise<Delivery> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: alert.text, alert }),
      signal: AbortSignal.timeout(10_000),
    });
    // The URL may carry a secret (Slack hooks do): report the host only.
    return { channel: `webhook ${new URL(url).host}`, ok: response.ok, ...(response.ok ? {} : { detail: `HTTP ${response.status}` }) };
  } catch (error) {
    return { channel: `webhook ${safeHost(url)}`, ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}

const ENV_LIMIT = 64 * 1024;

function runCommand(command: string, alert: Alert, env: NodeJS.ProcessEnv): Promise<Delivery> {
  return new Promise((resolve) => {
    const json = JSON.stringify(alert);
    // Linux refuses an environment string over 128 KiB (E2BIG): the variables are capped, stdin has it all.
    const cap = (value: string): string => (value.length > ENV_LIMIT ? `${value.slice(0, ENV_LIMIT)}…` : value);
    const child = spawn('sh', ['-c', command], { env: { ...env, REFINERY_ALERT_JSON: cap(json), REFINERY_ALERT_TEXT: cap(alert.text) }, stdio: ['pipe', 'ignore', 'pipe'], timeout: 30_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => resolve({ channel: 'command', ok: false, detail: error.message }));
    // A command that never reads its stdin (it has REFINERY_ALERT_JSON) closes the pipe early: EPIPE is not a failure.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => resolve({ channel: 'command', ok: code === 0, ...(code === 0 ? {} : { detail: `exit ${code}: ${stderr.trim().slice(0, 200)}` }) }));
    child.stdin.end(json);
  });
}
