import type { Command } from 'commander';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compareLoads, type CompareLoadsReport, type LoadMeasurement } from '../../incremental/compare-loads.js';
import { action } from '../command-context.js';
import { color, formatDuration, plural, printJson, println, table } from '../output.js';
import { Spinner } from '../spinner.js';
import { wholeNumberOption } from './generate.js';

export function registerCompareLoads(program: Command): void {
  program
    .command('compare-loads')
    .description('Full reload vs incremental load of the same day-2 changes, on generated data: real times, identical results')
    .option('--rows <n>', 'customers on day 1', '1000000')
    .option('--changes <n>', 'day-2 status updates', '1000')
    .option('--seed <n>', 'seed of the generated data', '42')
    .option('--keep <dir>', 'keep the generated data and both projects in this directory')
    .addHelpText('after', '\nExits 1 if the two loads do not give identical silver and gold.\n\nExamples:\n  refinery compare-loads\n  refinery compare-loads --rows 100000 --changes 100 --json')
    .action(
      action(async (options, cmd: { rows: string; changes: string; seed: string; keep?: string }) => {
        const rows = wholeNumberOption(cmd.rows, 'rows', 1_000_000, 1);
        const changes = wholeNumberOption(cmd.changes, 'changes', 1000, 1);
        const seed = wholeNumberOption(cmd.seed, 'seed', 42);
        const workDir = cmd.keep ? resolve(cmd.keep) : mkdtempSync(join(tmpdir(), 'refinery-compare-'));
        const spinner = new Spinner(!options.json && Boolean(process.stderr.isTTY));
        const report = await compareLoads({
          rows,
          changes,
          seed,
          workDir,
          keep: Boolean(cmd.keep),
          progress: (text, at) => {
            spinner.stop();
            if (!options.json) process.stderr.write(color.dim(`[${at.stage}/${at.of}] ${text}\n`));
            spinner.start(text);
          },
        });
        spinner.stop();
        if (options.json) printJson(report);
        else render(report);
        return report.identical ? 0 : 1;
      }),
    );
}

function render(report: CompareLoadsReport): void {
  const row = (m: LoadMeasurement): Record<string, unknown> => ({
    strategy: m.strategy,
    'wall time': formatDuration(m.wallMs),
    'rows read': m.rowsRead.toLocaleString('en-US'),
    'rows written': m.rowsWritten.toLocaleString('en-US'),
    'bytes read': m.bytesRead.toLocaleString('en-US'),
  });
  println();
  println(color.bold(`${report.rows.toLocaleString('en-US')} customers yesterday, ${report.changes.toLocaleString('en-US')} status updates today: reload everything, or just the changes?`));
  println(table([row(report.full), row(report.incremental)], undefined, { right: ['wall time', 'rows read', 'rows written', 'bytes read'] }));
  println();
  println(`Incremental was ${color.bold(`${report.speedup.toFixed(1)}×`)} faster, reading ${((100 * report.incremental.bytesRead) / Math.max(report.full.bytesRead, 1)).toFixed(2)}% of the bytes.`);
  for (const t of report.tables) println(`  ${t.identical ? color.green('identical') : color.red('DIFFERENT')}  ${t.table} (${plural(t.fullRows, 'row')})`);
  println(report.identical ? color.green('Both loads give the same silver and gold.') : color.red('The loads disagree: the incremental path has a bug. Re-run with --keep <dir> to inspect both warehouses.'));
  println(color.dim('When is a full load still needed? When rules or schemas change (refinery rebuilds such tables by itself and says why), or to repair data: refinery run --full-refresh.'));
}
