import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * DATA_DIR holds the embedded database (addresses in its WAL and tables), the secret key and the
 * outbox (.eml files with live links): owner-only, whatever the umask. PGlite sets its files to
 * 0666 itself, so a umask alone cannot do it: folders are made 0700 (which already shuts others
 * out of everything below them) and files are set to 0600 after the fact.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates a folder (and its parents) owner-only, and makes an existing one so. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * What digestmail keeps in DATA_DIR: only these are walked, so a DATA_DIR that also holds other
 * things (a home folder, a project) never has those changed.
 */
const OURS = ['pgdata', 'pgdata.lock', 'outbox', 'secret.key', 'demo'];

/** Everything of ours in DATA_DIR (the folder itself included) that others may read, write or enter. */
export function looseEntries(dataDir: string): string[] {
  const loose: string[] = [];
  visitOurs(dataDir, (path, isDir, mode) => {
    if (mode & 0o077 || (!isDir && mode & 0o111)) loose.push(path);
  });
  return loose;
}

/** Sets DATA_DIR and every folder of ours in it to 0700, and every file to 0600. */
export function tightenTree(dataDir: string): void {
  visitOurs(dataDir, (path, isDir, mode) => {
    const wanted = isDir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
    if ((mode & 0o777) !== wanted) chmodSync(path, wanted);
  });
}

function visitOurs(dataDir: string, visit: (path: string, isDir: boolean, mode: number) => void): void {
  walk(dataDir, visit, false);
  for (const name of OURS) walk(join(dataDir, name), visit, true);
}

function walk(
  path: string,
  visit: (path: string, isDir: boolean, mode: number) => void,
  deep: boolean,
): void {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return; // gone meanwhile (a temporary file of the database), or never there
  }
  if (stat.isSymbolicLink()) return;
  const isDir = stat.isDirectory();
  visit(path, isDir, Number(stat.mode));
  if (!isDir || !deep) return;
  let names: string[] = [];
  try {
    names = readdirSync(path);
  } catch {
    return;
  }
  for (const name of names) walk(join(path, name), visit, true);
}
