import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder with digestmail's package.json. Runtime files (MJML templates in `emails/`, the
 * examples, SQL files) are found from here rather than relative to the calling module, because the
 * same module runs from `src/` (tsx, vitest) and from a bundled chunk somewhere under `dist/`.
 */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** True when this code runs as TypeScript from `src/`, false when it runs from the build in `dist/`. */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'emails'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`digestmail's package folder not found above ${from}`);
  }
}
