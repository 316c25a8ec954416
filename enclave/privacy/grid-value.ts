import type { MeasurementKind } from '../../contracts/privacy/calibration.js';

/**
 * What the DP gate noises for one group's measurement: the aggregate the sandbox computed, or its neutral
 * stand-in when the group is empty or the aggregate NULL (never released as such), kept in its range and
 * rounded onto the measurement's fixed-point grid (integers × 10^-scale). The noise is added to this integer;
 * calibration.ts bounds how far one person moves the vector of these over all groups.
 */
export function gridValue(kind: MeasurementKind, raw: number | null | undefined, bounds: [number, number], scale: number): number {
  let v = raw === null || raw === undefined || !Number.isFinite(raw) ? neutral(kind, bounds) : raw;
  if (kind === 'count' || kind === 'sumSquares') v = Math.max(v, 0);
  else if (kind === 'min' || kind === 'max' || kind === 'median') v = Math.min(Math.max(v, bounds[0]), bounds[1]);
  return Math.round(v * 10 ** scale);
}

/** A value's neutral (data-free) stand-in for an empty group or a NULL: what the aggregate of nothing is. */
export function neutral(kind: MeasurementKind, [lo, hi]: [number, number]): number {
  switch (kind) {
    case 'min':
      return hi; // min's identity, clamped into the bounds
    case 'max':
      return lo;
    case 'median':
      return (lo + hi) / 2;
    default:
      return 0; // count, sum, sum of squares of no rows
  }
}
