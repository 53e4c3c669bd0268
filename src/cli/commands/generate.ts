import type { Command } from 'commander';
import { relative } from 'node:path';
import { usageError } from '../../errors.js';
import { generateLoadScenario } from '../../generate/load-scenario.js';
import { action } from '../command-context.js';
import { color, printJson, println } from '../output.js';
import { Spinner } from '../spinner.js';

export function wholeNumberOption(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < min) throw usageError({ code: 'invalid_number', value, message: `--${name} '${value}' is not a whole number ≥ ${min}.`, hint: `Pass --${name} 1000000, for example (underscores allowed: 1_000_000).` });
  return n;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('Generate deterministic messy test data: day-1 customers and orders, day-2 changes and the day-2 full extract')
    .argument('<dataset>', 'what to generate: customers')
    .option('--rows <n>', 'customers on day 1', '1000000')
    .option('--changes <n>', 'customers whose status changes on day 2', '1000')
    .option('--seed <n>', 'same seed, same bytes', '42')
    .requiredOption('--out <dir>', 'directory to write into')
    .addHelpText('after', '\nExamples:\n  refinery generate customers --rows 1000000 --changes 1000 --out data\n  refinery generate customers --rows 1000 --changes 10 --out small --json')
    .action(
      action(async (options, dataset: string, cmd: { rows: string; changes: string; seed: string; out: string }) => {
        if (dataset !== 'customers') throw usageError({ code: 'unknown_dataset', value: dataset, message: `There is no dataset '${dataset}'.`, allowed: 'customers', hint: 'Use: refinery generate customers --out <dir>' });
        const rows = wholeNumberOption(cmd.rows, 'rows', 1_000_000);
        const changes = wholeNumberOption(cmd.changes, 'changes', 1000);
        const seed = wholeNumberOption(cmd.seed, 'seed', 42);
        const spinner = new Spinner(!options.json && Boolean(process.stderr.isTTY));
        spinner.start(`generating ${rows.toLocaleString('en-US')} customers`);
        const scenario = await generateLoadScenario({ rows, changes, seed, out: cmd.out });
        spinner.stop();
        if (options.json) printJson(scenario);
        else {
          const rel = (p: string): string => relative(process.cwd(), p) || '.';
          println(`${color.green('Generated')} ${rows.toLocaleString('en-US')} customers (seed ${seed}) in ${rel(scenario.dir)}/`);
          println(`  day 1, full extract:   ${rel(scenario.day1.customers)}, ${rel(scenario.day1.orders)}`);
          println(`  day 2, changes only:   ${rel(scenario.day2Changes)} (${changes.toLocaleString('en-US')} status updates)`);
          println(`  day 2, full extract:   ${rel(scenario.day2Full.customers)}, ${rel(scenario.day2Full.orders)}`);
        }
        return 0;
      }),
    );
}
