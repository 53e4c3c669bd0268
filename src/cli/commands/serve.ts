import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { systemClock } from '../../orchestrator/clock.js';
import { createApi, isLoopback, listen } from '../../orchestrator/http-api.js';
import { nextFireTime, describeSchedule } from '../../orchestrator/schedule.js';
import { acquireServiceLock, readServiceLock, updateServiceLock } from '../../orchestrator/service-lock.js';
import { resolve } from 'node:path';
import { Service } from '../../orchestrator/service.js';
import { action, withProject } from '../command-context.js';
import { color, println } from '../output.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the project as a service: schedules, file and pipeline triggers, alerts, and an HTTP API')
    .option('--port <port>', 'port for the HTTP API (default: serve.port, 7788; 0 picks a free one)')
    .option('--host <host>', 'interface for the HTTP API (default: serve.host, 127.0.0.1)')
    .addHelpText(
      'after',
      `
One service per project. It runs when a schedule fires, a landing file appears, an upstream pipeline succeeds,
or on POST /api/runs; one run at a time (overlap: skip, or queue one). Killed mid-run, it marks the run
interrupted when it restarts and resumes it without redoing completed steps.

Examples:
  refinery serve
  curl -X POST http://127.0.0.1:7788/api/runs -d '{"select": ["+gold.customer_360"]}'
  curl http://127.0.0.1:7788/api/why/silver.customers`,
    )
    .action(
      action(async (options, cmd: { port?: string; host?: string }) => {
        const holder = readServiceLock(resolve(options.project));
        if (holder) {
          throw usageError({
            code: 'service_already_running',
            message: `refinery serve is already running for this project: PID ${holder.pid}, API at ${holder.url}, since ${holder.startedAt}.`,
            hint: `Use that service, or stop it (kill ${holder.pid}) first.`,
          });
        }
        return withProject(options, async ({ plan, warehouse }) => {
          const host = cmd.host ?? plan.serve.host;
          const port = cmd.port === undefined ? plan.serve.port : Number(cmd.port);
          if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError({ code: 'invalid_port', value: cmd.port, message: `--port '${cmd.port}' is not a port number.`, allowed: '0–65535', hint: 'Pass --port 7788, or 0 for any free port.' });
          const token = process.env[plan.serve.tokenEnv];
          if (!isLoopback(host) && !token) {
            throw usageError({
              code: 'token_required',
              value: host,
              message: `The API would listen on ${host}, beyond this machine, without a bearer token.`,
              hint: `Set ${plan.serve.tokenEnv} to a secret token (clients send Authorization: Bearer <token>), or listen on 127.0.0.1.`,
            });
          }
          const started = new Date().toISOString();
          const release = acquireServiceLock(plan.projectDir, { url: `http://${host}:${port}`, startedAt: started });
          const log = (text: string): void => {
            if (options.json) process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), message: text })}\n`);
            else println(`${color.dim(new Date().toISOString())} ${text}`);
          };
          const service = new Service({ plan, warehouse, clock: systemClock, onEvent: (event) => log(event.message) });
          let api: Awaited<ReturnType<typeof listen>> | undefined;
          try {
            api = await listen(createApi(service, token ? { token } : {}), host, port);
            updateServiceLock(plan.projectDir, { pid: process.pid, url: api.url, startedAt: started });
            await service.start();
            log(`refinery serve · project ${plan.name} · API ${api.url}${token ? ' (bearer token required)' : ''} · PID ${process.pid}`);
            for (const schedule of plan.schedules) log(`schedule ${schedule.name}: ${describeSchedule(schedule)}, next at ${nextFireTime(schedule, new Date()).toISOString()}`);
            if (plan.triggers.files) log(`watching landing zones every ${plan.triggers.files.pollEveryMs} ms`);
            for (const upstream of plan.triggers.afterPipelines) log(`runs after successful runs of ${upstream.project}`);
            await new Promise<void>((resolve) => {
              const stop = (): void => {
                log(service.status().running ? 'stopping: the run in progress is cancelled and rolled back' : 'stopping');
                resolve();
              };
              process.once('SIGINT', stop);
              process.once('SIGTERM', stop);
            });
            await service.stop();
            return 0;
          } finally {
            api?.server.close();
            release();
          }
        });
      }),
    );
}
