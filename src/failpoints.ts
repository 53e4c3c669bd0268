/**
 * Failpoints for crash tests: when REFINERY_FAILPOINT names one of these points, the process kills itself there
 * with SIGKILL — no cleanup, no finally blocks — exactly like a power cut at that instant. Unset (always, outside
 * tests) this is one environment lookup.
 */
export type Failpoint = 'bronze:after-file-commit' | 'silver:before-commit' | 'cdc:after-commit-before-ack' | 'gold:before-commit';

export function failpoint(name: Failpoint): void {
  if (process.env.REFINERY_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}

/** Points where a failure test can make an operation fail (throw) instead of killing the process. */
export type Faultpoint = 'extract:stage-part' | 'cdc:acknowledge';

/**
 * Throws when REFINERY_FAULT names this point, or `<point>:<n>` for its n-th occurrence (`n` as the caller counts,
 * e.g. a part's index): an engine error on demand, for paths no real input reaches reliably (a full disk while a
 * part is staged). Unset, this is one environment lookup.
 */
export function faultpoint(name: Faultpoint, n?: number): void {
  const fault = process.env.REFINERY_FAULT;
  if (fault !== undefined && (fault === name || (n !== undefined && fault === `${name}:${n}`))) throw new Error(`injected fault at ${fault}`);
}
