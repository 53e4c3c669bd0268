import type { Command } from 'commander';
import { closest } from '../../config/config-issues.js';
import { usageError } from '../../errors.js';
import { clearSourceState } from '../../incremental/source-state.js';
import { connect } from '../../sources/postgres/postgres-connection.js';
import { dropCdcSetup } from '../../sources/postgres/pgoutput-changes.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println } from '../output.js';

export function registerCdcDrop(program: Command): void {
  program
    .command('cdc-drop')
    .description("Drop a CDC source's replication slot and publication on the server (the next run takes a new snapshot)")
    .argument('<source>', 'a source with load strategy cdc')
    .addHelpText('after', '\nA replication slot keeps WAL on the server until it is read: drop the slots of sources you no longer run.\n\nExamples:\n  refinery cdc-drop crm')
    .action(
      action(async (options, name: string) =>
        withProject(options, async ({ plan, warehouse }) => {
          const cdc = plan.sources.filter((s) => s.kind === 'postgres' && s.load.strategy === 'cdc');
          const source = cdc.find((s) => s.name === name);
          if (!source || source.kind !== 'postgres') {
            const names = cdc.map((s) => s.name);
            throw usageError({ code: 'unknown_cdc_source', value: name, message: `There is no CDC source '${name}'.`, allowed: names.join(', ') || '(no source uses strategy cdc)', hint: closest(name, names) ? `Did you mean '${closest(name, names)}'?` : 'Name a source whose load strategy is cdc.' });
          }
          const client = await connect(source);
          try {
            const dropped = await dropCdcSetup(client, source.load.slot, source.load.publication, source.table);
            await clearSourceState(warehouse, source.name);
            if (options.json) printJson({ source: name, slot: source.load.slot, publication: source.load.publication, ...dropped });
            else {
              const publication = dropped.droppedPublication
                ? `publication ${source.load.publication}`
                : dropped.keptPublication
                  ? `kept publication ${source.load.publication} (${dropped.keptPublication})`
                  : `no publication (${source.load.publication} did not exist)`;
              println(`${color.green('Dropped')} ${dropped.droppedSlot ? `slot ${source.load.slot}` : `no slot (${source.load.slot} did not exist)`}; ${publication}. The next run of ${name} takes a new snapshot.`);
            }
            return 0;
          } finally {
            await client.end().catch(() => undefined);
          }
        }),
      ),
    );
}
