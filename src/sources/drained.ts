import type { Writable } from 'node:stream';

/**
 * Resolves once `stream` drains, or closes: a stream destroyed while full never drains, and a writer waiting on it
 * must not wait forever. Both listeners go once either fires, so waiting often leaves none behind.
 */
export function drainedOrClosed(stream: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
