import pc from 'picocolors';
import { RefineryError, type ErrorData } from '../errors.js';

/**
 * Output conventions shared by every command: machine output (`--json`) goes to stdout alone; human text goes
 * to stdout, progress and errors to stderr. Colours follow picocolors, which honours NO_COLOR and a non-TTY.
 */
export interface OutputOptions {
  readonly json: boolean;
  readonly verbose: boolean;
}

export const color = pc;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function println(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** A plain text table; numbers right-aligned. */
export function table(rows: readonly Record<string, unknown>[], columns?: readonly string[], options: { readonly right?: readonly string[] } = {}): string {
  const names = columns ?? (rows[0] ? Object.keys(rows[0]) : []);
  if (names.length === 0) return '(no columns)';
  const cells = rows.map((r) => names.map((n) => formatCell(r[n])));
  const widths = names.map((n, i) => Math.min(40, Math.max(n.length, ...cells.map((c) => visible(c[i] ?? '').length))));
  // Numbers align right; so do columns the caller formatted itself (`right`), such as counts with separators.
  const numeric = names.map((n) => options.right?.includes(n) || (rows.length > 0 && rows.every((r) => r[n] === null || typeof r[n] === 'number')));
  const pad = (text: string, i: number): string => {
    const width = widths[i] ?? 0;
    // Colour codes take no room on screen: measure and clip what is visible.
    const plain = visible(text);
    if (plain.length > width) return `${plain.slice(0, width - 1)}…`;
    const fill = ' '.repeat(width - plain.length);
    return numeric[i] ? fill + text : text + fill;
  };
  const header = names.map((n, i) => color.bold(pad(n, i))).join('  ');
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  const body = cells.map((c) => c.map((v, i) => (v === 'NULL' ? color.dim(pad(v, i)) : pad(v, i))).join('  '));
  return [header, color.dim(rule), ...body].join('\n');
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

function visible(text: string): string {
  return text.replace(ANSI, '');
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/\n/g, '⏎');
}

export { plural } from '../text.js';

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Renders an error for people: what, where, what is allowed, what to do. Stack traces only with --verbose. */
export function renderError(error: unknown, options: OutputOptions): number {
  if (error instanceof RefineryError) {
    if (options.json) {
      printJson({ error: error.toJSON() });
    } else {
      for (const issue of error.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      if (error.issues.length > 1) process.stderr.write(color.dim(`${error.issues.length} problems found.\n`));
      if (options.verbose && error.cause) process.stderr.write(`${color.dim(String((error.cause as Error).stack ?? error.cause))}\n`);
    }
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (options.json) printJson({ error: { kind: 'internal', code: 'internal_error', message } });
  else {
    process.stderr.write(`${color.red('error')} ${message}\n`);
    if (options.verbose && error instanceof Error) process.stderr.write(`${color.dim(error.stack ?? '')}\n`);
    else process.stderr.write(color.dim('This looks like a bug in Refinery. Run again with --verbose for details.\n'));
  }
  return 1;
}

export function formatIssue(issue: ErrorData): string {
  const where = issue.file ? `${issue.file}${issue.line ? `:${issue.line}` : ''}` : issue.step ?? issue.table;
  const lines = [`${color.red('error')}${where ? ` ${color.bold(where)}` : ''} ${issue.message}`];
  if (issue.allowed) lines.push(`  ${color.dim('allowed:')} ${issue.allowed}`);
  if (issue.hint) lines.push(`  ${color.dim('fix:')} ${issue.hint}`);
  return lines.join('\n');
}
