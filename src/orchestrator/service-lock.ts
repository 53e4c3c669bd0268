import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** A file with its whole content, ready to be linked or renamed into place: readers never see it half-written. */
function writeAside(path: string, body: string): string {
  const aside = `${path}.${process.pid}.tmp`;
  writeFileSync(aside, body);
  return aside;
}

export function acquireServiceLock(projectDir: string, info: Omit<ServiceLockInfo, 'pid'>): () => void {
  const path = serviceLockPath(projectDir);
  mkdirSync(dirname(path), { recursive: true });
  const body = JSON.stringify({ pid: process.pid, ...info });
  for (let attempt = 0; attempt < 2; attempt++) {
    // link() creates the lock only if it does not exist, and with its content already in it: a second service
    // that looks at that moment finds a complete lock, never an empty file it would take for a stale one.
    const aside = writeAside(path, body);
    try {
      linkSync(aside, path);
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
    } finally {
      rmSync(aside, { force: true });
    }
  }
  renameSync(writeAside(path, body), path);
  return () => rmSync(path, { force: true });
}

export function updateServiceLock(projectDir: string, info: ServiceLockInfo): void {
  const path = serviceLockPath(projectDir);
  // Replaced whole (rename), so a reader sees the old lock or the new one, not an empty file in between.
  renameSync(writeAside(path, JSON.stringify(info)), path);
}
