/** A task throws this (or any error with `fatal: true`) to say: this will fail the same way again, do not retry. */
export class FatalError extends Error {
  readonly fatal = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FatalError';
  }
}
