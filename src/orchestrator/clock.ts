/**
 * Time is a dependency. Everything that stamps or decides by time takes a Clock, so tests can run on
 * virtual time (`TestClock.tick`) and a run's timestamps all come from one place.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = {
  now: () => new Date(),
};

export class TestClock implements Clock {
  private current: number;

  constructor(start: Date | string = '2024-01-01T00:00:00Z') {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  tick(ms: number): void {
    this.current += ms;
  }
}
