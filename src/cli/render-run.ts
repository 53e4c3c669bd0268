import { relative } from 'node:path';
import type { FileOutcome, StepOutcome } from '../orchestrator/run-context.js';
import type { RunReport } from '../orchestrator/run-pipeline.js';
import { color, formatDuration, plural } from './output.js';

const STATUS_MARK: Record<StepOutcome['status'], string> = {
  success: color.green('✔'),
  skipped: color.dim('–'),
  failed: color.red('✘'),
  upstream_failed: color.yellow('⊘'),
  cancelled: color.yellow('◌'),
};

function byReason(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
}

function fileLine(f: FileOutcome): string | undefined {
  switch (f.outcome) {
    case 'ingested':
      return `    ${color.green('+')} ${f.path}: batch ${f.batchId}, ${plural(f.rows ?? 0, 'row')}${f.malformedRows ? color.yellow(` (${f.malformedRows} malformed, kept as raw lines)`) : ''}`;
    case 'changed':
      return `    ${color.yellow('~')} ${f.path} changed since batch ${f.previousBatchId}: ingested again as batch ${f.batchId}, ${plural(f.rows ?? 0, 'row')}${f.malformedRows ? color.yellow(` (${f.malformedRows} malformed)`) : ''}`;
    case 'refused':
      return `    ${color.red('!')} ${f.path}${f.line ? `:${f.line}` : ''} refused, nothing ingested: ${f.reason}. Fix the file and land it again.`;
    case 'still_refused':
      return `    ${color.red('!')} ${f.path} is still the refused version; fix it and land it again.`;
    default:
      return undefined;
  }
}

export function renderStep(outcome: StepOutcome, verbose = false): string {
  const lines: string[] = [];
  const name = outcome.step.padEnd(24);
  const mark = STATUS_MARK[outcome.status];
  if (outcome.status === 'failed') {
    lines.push(`${mark} ${color.bold(name)} ${color.red('failed')} ${outcome.message ?? ''}`);
    if (outcome.error?.hint && !(verbose && outcome.error.sql)) lines.push(`    ${color.dim('fix:')} ${outcome.error.hint}`);
    if (verbose && outcome.error?.sql) lines.push(`    ${color.dim('SQL that failed:')}\n${outcome.error.sql.replace(/^/gm, '      ')}`);
    return lines.join('\n');
  }
  if (outcome.status === 'upstream_failed' || outcome.status === 'skipped' || outcome.status === 'cancelled') {
    lines.push(`${mark} ${name} ${color.dim(outcome.message ?? outcome.status)}`);
  } else if (outcome.kind === 'bronze' && (outcome.reads === 'database' || outcome.reads === 'http')) {
    // No landing files here: "0 files ingested" would read as if nothing had arrived.
    lines.push(`${mark} ${color.bold(name)} ${plural(outcome.rowsIn, 'row')} ${outcome.reads === 'database' ? 'extracted' : 'fetched'}`);
  } else if (outcome.kind === 'bronze') {
    const ingested = outcome.files.filter((f) => f.outcome === 'ingested' || f.outcome === 'changed').length;
    lines.push(`${mark} ${color.bold(name)} ${plural(ingested, 'file')} ingested, ${plural(outcome.rowsIn, 'row')}`);
  } else if (outcome.kind === 'silver') {
    const parts = [`in ${outcome.rowsIn.toLocaleString('en-US')}`, `written ${outcome.rowsWritten.toLocaleString('en-US')}`];
    parts.push(outcome.rowsQuarantined > 0 ? color.yellow(`quarantined ${outcome.rowsQuarantined} (${byReason(outcome.quarantinedByReason)})`) : 'quarantined 0');
    parts.push(`superseded ${outcome.rowsSuperseded.toLocaleString('en-US')}`);
    if (outcome.rowsWarned > 0) parts.push(color.yellow(`warnings ${outcome.rowsWarned} (${byReason(outcome.warningsByCheck)})`));
    lines.push(`${mark} ${color.bold(name)} ${parts.join(' · ')}`);
    if (outcome.message && outcome.message !== 'merged new bronze batches') lines.push(`    ${color.dim(outcome.message)}`);
  } else if (outcome.kind === 'task') {
    lines.push(`${mark} ${color.bold(name)} ${outcome.message ?? 'done'}${outcome.attempts && outcome.attempts > 1 ? color.dim(` (attempt ${outcome.attempts})`) : ''}`);
  } else {
    lines.push(`${mark} ${color.bold(name)} ${plural(outcome.rowsWritten, 'row')} ${color.dim(`(${outcome.message ?? ''})`)}`);
  }
  for (const f of outcome.files) {
    const line = fileLine(f);
    if (line) lines.push(line);
    for (const note of f.schema ?? []) lines.push(`      ${color.yellow('schema:')} ${note}`);
    for (const warning of f.warnings ?? []) lines.push(`      ${color.yellow('warning:')} ${warning}`);
  }
  if (outcome.kind === 'bronze' && outcome.status === 'success' && outcome.message) lines.push(`    ${color.dim(outcome.message)}`);
  return lines.join('\n');
}

export function renderRunSummary(report: RunReport, warehousePath: string): string {
  const failed = report.steps.filter((s) => s.status === 'failed');
  const notRun = report.steps.filter((s) => s.status === 'upstream_failed');
  const where = relative(process.cwd(), warehousePath) || warehousePath;
  if (report.status === 'cancelled') {
    const done = report.steps.filter((s) => s.status === 'success').length;
    return `${color.yellow(`Run ${report.runId} cancelled`)} after ${formatDuration(report.durationMs)}: ${plural(done, 'step')} had finished and stay committed; running steps were rolled back. The next run carries on.`;
  }
  if (failed.length === 0) return `${color.green('Run')} ${report.runId} ${color.green('succeeded')} in ${formatDuration(report.durationMs)}. Warehouse: ${where}`;
  return `${color.red(`Run ${report.runId} failed`)} in ${formatDuration(report.durationMs)}: ${failed.map((f) => f.step).join(', ')} failed${
    notRun.length > 0 ? `, so ${plural(notRun.length, 'step')} downstream did not run (${notRun.map((s) => s.step).join(', ')})` : ''
  }. Nothing half-written was kept.`;
}
