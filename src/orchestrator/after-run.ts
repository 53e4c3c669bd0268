import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Plan } from '../config/plan.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { alertsForRun, deliverAlerts, type Alert } from './alerts.js';
import type { Clock } from './clock.js';
import type { RunReport } from './run-pipeline.js';
import { lastSuccessPath } from './service.js';

/**
 * What follows every run, from the CLI or the service: alerts for its root-cause failures and quality breaches,
 * and the success marker that triggers pipelines downstream of this one.
 */
export async function afterRun(plan: Plan, warehouse: Warehouse, clock: Clock, report: RunReport, env: NodeJS.ProcessEnv = process.env): Promise<Alert[]> {
  if (report.status === 'success') {
    const path = lastSuccessPath(plan.projectDir);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify({ project: report.project, runId: report.runId, endedAt: report.endedAt }));
  }
  const alerts = alertsForRun(plan, report);
  if (alerts.length > 0 && (plan.alerts.webhook || plan.alerts.command)) await deliverAlerts(plan, alerts, warehouse, clock, env);
  return alerts;
}
