import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RefineryError } from '../errors.js';
import { isAlive } from './live-status.js';

/** One service per project: `.refinery/serve.lock` names the process that holds it (and where its API listens). */
export interface ServiceLockInfo {
  readonly pid: number;
  readonly url: string;
  readonly startedAt: string;
}

export function serviceLockPath(projectDir: string): string {
  return join(projectDir, '.refinery', 'serve.lock');
}

export function readServiceLock(projectDir: string): ServiceLockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(serviceLockPath(projectDir), 'utf8')) as ServiceLockInfo;
    return isAlive(info.pid) && info.pid !== process.pid ? info : undefined;
  } catch {
    return undefined;
  }
}

export function acquireServiceLock(projectDir: string, info: Omit<ServiceLockInfo, 'pid'>): () => void {
  const path = serviceLockPath(projectDir);
  mkdirSync(dirname(path), { recursive: true });
  const body = JSON.stringify({ pid: process.pid, ...info });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, body);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readServiceLock(projectDir);
      if (holder) {
        throw new RefineryError('usage', {
          code: 'service_already_running',
          file: path,
          message: `refinery serve is already running for this project: PID ${holder.pid}, API at ${holder.url}, since ${holder.startedAt}.`,
          hint: `Use that service (e.g. curl -X POST ${holder.url}/api/runs), or stop it (kill ${holder.pid}) first.`,
        });
      }
      // The holder died without cleaning up (SIGKILL): the lock is stale.
      rmSync(path, { force: true });
    }
  }
  writeFileSync(path, body);
  return () => rmSync(path, { force: true });
}

export function updateServiceLock(projectDir: string, info: ServiceLockInfo): void {
  writeFileSync(serviceLockPath(projectDir), JSON.stringify(info));
}
