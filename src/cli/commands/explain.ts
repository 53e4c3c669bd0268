import type { Command } from 'commander';
import { explainEntity } from '../../integrate/explain.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println } from '../output.js';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('Say why each field of a golden record holds its value: the rule, the winning source, the losing candidates, the confidence')
    .argument('<entity>', 'an integrated entity, e.g. customer')
    .argument('<id>', 'its master id (e.g. 1001), or a source record as <source>:<key> (e.g. billing:1001)')
    .addHelpText('after', '\nExamples:\n  refinery explain customer 1001\n  refinery explain customer billing:1001 --json')
    .action(
      action(async (options, entity: string, id: string) =>
        withProject(options, async ({ plan, warehouse }) => {
          const explanation = await explainEntity(warehouse, plan, entity, id);
          if (options.json) {
            printJson(explanation);
            return 0;
          }
          println(color.bold(explanation.sentence));
          for (const f of explanation.fields) println(`  ${f.contested ? color.yellow(f.sentence) : f.sentence}`);
          return 0;
        }),
      ),
    );
}
