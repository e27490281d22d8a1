/** Builds dist/ (see build.mjs); resolves once every changed file is written. */
export function buildDist(options?: {
  quiet?: boolean;
}): Promise<{ files: number; written: number; ms: number }>;
