import { v7 as uuidv7 } from 'uuid';

/** Every entity id is a UUIDv7: time-ordered, so ids double as cursor keys. */
export const newId = (): string => uuidv7();

/** Domain time is injected so tests can move it; production uses the wall clock. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** UTC ISO 8601 with milliseconds, the only time format stored or sent. */
export const isoNow = (clock: Clock = systemClock): string => clock.now().toISOString();
