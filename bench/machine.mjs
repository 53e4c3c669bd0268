// What the whole machine is doing, for benchmarks that share it with other work (and with a database server).
import { readFileSync } from 'node:fs';

/** Busy CPU milliseconds of the whole machine since boot (Linux /proc/stat), or undefined elsewhere. */
export function systemBusyMs() {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
