/** Of several rounds of one measurement, the run with the median figure (the upper one of an even count). */
export function medianRun<T>(runs: readonly T[], figure: (run: T) => number): T {
  const sorted = [...runs].sort((a, b) => figure(a) - figure(b));
  return sorted[Math.floor(sorted.length / 2)]!;
}
