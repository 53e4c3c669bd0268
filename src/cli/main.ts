#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerDemo } from './commands/demo.js';
import { registerHistory } from './commands/history.js';
import { registerInit } from './commands/init.js';
import { registerQuery } from './commands/query.js';
import { registerRun } from './commands/run.js';
import { registerShow } from './commands/show.js';
import { registerStatus } from './commands/status.js';
import { registerWhy } from './commands/why.js';
import { registerGraph } from './commands/graph.js';
import { registerShowRun } from './commands/show-run.js';
import { registerServe } from './commands/serve.js';
import { registerGenerate } from './commands/generate.js';
import { registerCompareLoads } from './commands/compare-loads.js';
import { registerCheckIncremental } from './commands/check-incremental.js';
import { registerPlan } from './commands/plan.js';
import { registerCdcDrop } from './commands/cdc-drop.js';
import { registerExplain } from './commands/explain.js';
import { registerLineage } from './commands/lineage.js';
import { registerTrace } from './commands/trace.js';
import { registerSchema } from './commands/schema.js';
import { color } from './output.js';

// A closed pipe (`refinery history | head`) is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('refinery')
  .description('Trustworthy data pipelines: landing → bronze → silver → gold on embedded DuckDB, with nothing lost.')
  .version(version, '-V, --version')
  .option('-p, --project <dir>', 'project directory (default: the current directory)')
  .option('--json', 'machine-readable output on stdout')
  .option('--verbose', 'show internals (SQL, stack traces) on errors')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (text, write) => write(color.red(text)) })
  .exitOverride();

registerInit(program);
registerRun(program);
registerQuery(program);
registerShow(program);
registerStatus(program);
registerHistory(program);
registerAudit(program);
registerShowRun(program);
registerWhy(program);
registerGraph(program);
registerServe(program);
registerGenerate(program);
registerCompareLoads(program);
registerCheckIncremental(program);
registerPlan(program);
registerCdcDrop(program);
registerExplain(program);
registerLineage(program);
registerTrace(program);
registerSchema(program);
registerDemo(program);

program.addHelpText(
  'after',
  `
Start here:
  refinery init my-lab        scaffold the customers project
  cd my-lab && refinery run   landing → bronze → silver → gold
  refinery audit              prove every row is accounted for

Exit codes: 0 ok, 1 pipeline failure, 2 usage or config error. Docs: docs/ in the repository.`,
);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are not errors; anything else commander rejects is a usage error.
    process.exitCode = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? 0 : 2;
  } else {
    throw error;
  }
}
