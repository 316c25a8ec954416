/**
 * Phase timings of a release, written to stderr as one JSON line when the enclave runs with
 * SHUYU_ENCLAVE_TIMINGS=1 (the HE bench uses it to show where a release's time goes). Off, it costs nothing.
 */
export interface PhaseClock {
  mark(phase: string): void;
  done(): void;
}

const off: PhaseClock = { mark: () => {}, done: () => {} };

export function phaseClock(label: string): PhaseClock {
  if (process.env.SHUYU_ENCLAVE_TIMINGS !== '1') return off;
  const phases: Record<string, number> = {};
  const start = performance.now();
  const cpu = process.cpuUsage();
  let last = start;
  return {
    mark(phase) {
      const t = performance.now();
      phases[phase] = Math.round(((phases[phase] ?? 0) + t - last) * 100) / 100;
      last = t;
    },
    done() {
      const used = process.cpuUsage(cpu);
      // CPU time beside wall time: on a shared machine the wall figures include waiting for a core
      const cpuMs = Math.round((used.user + used.system) / 10) / 100;
      process.stderr.write(`${JSON.stringify({ enclaveRelease: label, totalMs: Math.round((performance.now() - start) * 100) / 100, cpuMs, phases })}\n`);
    },
  };
}
