/**
 * Failpoints for crash tests: when REFINERY_FAILPOINT names one of these points, the process kills itself there
 * with SIGKILL — no cleanup, no finally blocks — exactly like a power cut at that instant. Unset (always, outside
 * tests) this is one environment lookup.
 */
export type Failpoint = 'bronze:after-file-commit' | 'silver:before-commit' | 'cdc:after-commit-before-ack' | 'gold:before-commit';

export function failpoint(name: Failpoint): void {
  if (process.env.REFINERY_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
