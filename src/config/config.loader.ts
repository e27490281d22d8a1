import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../core/errors.ts';
import { maskCredentials } from '../core/secrets.text.ts';
import { type Env, envSchema } from './config.schema.ts';

/** The validated settings, with derived values resolved (absolute paths, the secret key, the mail URL). */
export type Config = Omit<Env, 'SECRET_KEY' | 'MAIL_URL'> & {
  SECRET_KEY: string;
  MAIL_URL: string;
  /** Where the secret key came from: the environment, or a file that was created once and kept. */
  secretSource: 'env' | 'file';
};

export class ConfigError extends AppError {
  constructor(message: string) {
    super('config.invalid', message, { status: 500, exitCode: 2 });
  }
}

/**
 * Reads and checks every setting once. A bad value throws a ConfigError whose message names the
 * variable and what was expected, so the process can stop with one clear line.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(pickKnown(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const value = env[name];
      // Connection strings carry passwords: show what was given with its userinfo masked.
      const shown =
        value === undefined || /SECRET|KEY|PASS|TOKEN/i.test(name)
          ? ''
          : ` (got "${maskCredentials(value)}")`;
      return `${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(`invalid setting ${problems.join('; ')}`);
  }
  const values = parsed.data;
  const dataDir = resolve(values.DATA_DIR);

  let secret = values.SECRET_KEY;
  let secretSource: Config['secretSource'] = 'env';
  if (!secret) {
    if (values.NODE_ENV === 'production') {
      throw new ConfigError(
        'invalid setting SECRET_KEY: required when NODE_ENV=production (openssl rand -hex 32)',
      );
    }
    secret = readOrCreateSecret(dataDir);
    secretSource = 'file';
  }

  return {
    ...values,
    DATA_DIR: dataDir,
    SECRET_KEY: secret,
    MAIL_URL: values.MAIL_URL ?? `outbox:${join(dataDir, 'outbox')}`,
    secretSource,
  };
}

function pickKnown(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    // An empty variable means "not set", as in most twelve-factor tools.
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

/**
 * Outside production a key is made once and kept in DATA_DIR, so links in mail sent yesterday still
 * verify today without the user having to invent a secret before trying the tool.
 */
function readOrCreateSecret(dataDir: string): string {
  const file = join(dataDir, 'secret.key');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
    // Replacing it silently would break every link already mailed: the user decides.
    throw new ConfigError(
      `invalid setting DATA_DIR: ${file} holds ${existing.length} characters, at least 32 are needed ` +
        '(put a longer key in it, or delete it to have one generated: links already mailed then stop working)',
    );
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`invalid setting DATA_DIR: cannot read ${file} (${(error as Error).message})`);
    }
  }
  const key = randomBytes(32).toString('hex');
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it first: use theirs, so both sign with one key.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readOrCreateSecret(dataDir);
    throw new ConfigError(`invalid setting DATA_DIR: cannot write ${file} (${(error as Error).message})`);
  }
  return key;
}
