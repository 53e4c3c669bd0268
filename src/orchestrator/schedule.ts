import { Cron } from 'croner';
import type { SchedulePlan } from '../config/plan.js';

/**
 * When a schedule fires. Cron with seconds and a time zone (croner does the calendar arithmetic, daylight saving
 * included), or a fixed interval counted from the Unix epoch so every service agrees on the fire times.
 * Pure functions of a date: the service's clock decides what "now" is.
 */
export function nextFireTime(schedule: SchedulePlan, after: Date): Date {
  if (schedule.everyMs !== undefined) {
    const every = Math.max(1, schedule.everyMs);
    return new Date((Math.floor(after.getTime() / every) + 1) * every);
  }
  const next = new Cron(schedule.cron as string, { timezone: schedule.timezone, paused: true }).nextRun(after);
  if (!next) throw new Error(`schedule ${schedule.name} never fires again`);
  return next;
}

/** The latest fire time at or before `at`, not older than `window` — what a catch-up would run. */
export function lastMissedFire(schedule: SchedulePlan, since: Date, at: Date): Date | undefined {
  let fire: Date | undefined;
  let cursor = nextFireTime(schedule, since);
  for (let i = 0; i < 100_000 && cursor.getTime() <= at.getTime(); i++) {
    fire = cursor;
    cursor = nextFireTime(schedule, cursor);
  }
  return fire;
}

export function cronProblem(expression: string, timezone?: string): string | undefined {
  try {
    new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
  }
}

export function describeSchedule(schedule: SchedulePlan): string {
  if (schedule.everyMs !== undefined) return `every ${Math.round(schedule.everyMs / 1000)} s`;
  return `cron '${schedule.cron}' (${schedule.timezone})`;
}
