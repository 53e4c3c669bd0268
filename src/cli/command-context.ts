import type { Command } from 'commander';
import { openProject, type OpenProject } from '../project.js';
import { renderError, type OutputOptions } from './output.js';

export interface GlobalOptions extends OutputOptions {
  readonly project: string;
}

export function globalOptions(command: Command): GlobalOptions {
  const o = command.optsWithGlobals<{ project?: string; json?: boolean; verbose?: boolean }>();
  return { project: o.project ?? process.cwd(), json: Boolean(o.json), verbose: Boolean(o.verbose) };
}

/**
 * Wraps a command's action: errors become rendered messages and exit codes (2 usage/config, 1 pipeline),
 * never stack traces unless --verbose.
 */
export function action<A extends unknown[]>(run: (options: GlobalOptions, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const options = globalOptions(command);
    try {
      const code = await run(options, ...(args.slice(0, -1) as A));
      process.exitCode = code ?? 0;
    } catch (error) {
      process.exitCode = renderError(error, options);
    }
  };
}

export async function withProject<T>(options: GlobalOptions, work: (project: OpenProject) => Promise<T>): Promise<T> {
  const project = await openProject(options.project);
  try {
    return await work(project);
  } finally {
    await project.close();
  }
}
