import { z } from 'zod';
import { resolveJwtSecret } from '../src/config/jwt-secret.ts';
import { centsOf } from '../src/domain/money.ts';
import { createTokenService } from '../src/modules/auth/tokens.ts';
import { createUserRepository } from '../src/modules/users/users.repository.ts';
import { openScriptDatabase, parseArgs } from './lib/script-database.ts';

/**
 * `npm run token -- --email a@example.com --role admin [--name "Ada"] [--ttl 3600]`
 * Finds or creates the user and prints a signed token alone on the last line of stdout.
 */
const args = z
  .object({
    email: z.email(),
    role: z.enum(['admin', 'moderator', 'user']).default('user'),
    name: z.string().min(1).max(200).optional(),
    ttl: z.coerce
      .number()
      .int()
      .min(60)
      .max(60 * 60 * 24 * 365)
      .optional(),
  })
  .safeParse(parseArgs(process.argv.slice(2)));
if (!args.success) {
  const issue = args.error.issues[0]!;
  console.error(
    `usage: npm run token -- --email a@example.com [--role admin|moderator|user] [--name N] [--ttl seconds]`,
  );
  console.error(`--${issue.path.join('.')}: ${issue.message}`);
  process.exit(2);
}
const { email, role, name, ttl } = args.data;
const { config, database, via } = await openScriptDatabase();
try {
  const user = await createUserRepository(database.db, {
    signupGrantCents: centsOf(config.SIGNUP_GRANT),
  }).upsertByEmail(email, name ?? email.split('@')[0]!, role);
  const { secret } = await resolveJwtSecret(config);
  const token = await createTokenService(secret, config.JWT_TTL_SECONDS).sign(
    { sub: user.id, email: user.email, role: user.role },
    ttl,
  );
  console.error(`user ${user.email} (${user.role}, id ${user.id}) via ${via}`);
  console.log(token);
} finally {
  await database.close();
}
