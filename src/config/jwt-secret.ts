import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './env.ts';

/**
 * JWT_SECRET when set. Outside production, a random secret kept in DATA_DIR so that a
 * fresh checkout starts with no setup and `npm run token` signs tokens the server accepts.
 */
export async function resolveJwtSecret(config: Config): Promise<{ secret: string; generated: boolean }> {
  if (config.JWT_SECRET) return { secret: config.JWT_SECRET, generated: false };
  const file = join(config.DATA_DIR, '.jwt-secret');
  try {
    return { secret: (await readFile(file, 'utf8')).trim(), generated: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(config.DATA_DIR, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  try {
    await writeFile(file, secret, { mode: 0o600, flag: 'wx' });
    return { secret, generated: true };
  } catch (error) {
    // Another process wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { secret: (await readFile(file, 'utf8')).trim(), generated: true };
  }
}
