import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import type { DB, Role } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { ApiError } from '../../lib/errors.ts';
import { randomSecret, sha256Hex } from '../../lib/secrets.ts';
import { toUserDto, type UserRepository } from '../users/index.ts';
import type { PasswordHasher } from './password.ts';
import type { RegistrationRepository } from './registrations.repository.ts';
import type { SessionRepository } from './sessions.repository.ts';
import type { TokenService } from './tokens.ts';

export type AuthService = ReturnType<typeof createAuthService>;

/** A 429 that says when the next attempt can succeed (the error handler sends it as Retry-After). */
export class RegistrationLimitError extends ApiError {
  constructor(limit: number, retryAfterSeconds: number) {
    super(
      429,
      'RATE_LIMITED',
      `At most ${limit} accounts per address and day; retry in ${retryAfterSeconds} seconds`,
      undefined,
      retryAfterSeconds,
    );
  }
}

export interface SignupLimits {
  /** Accounts per client address per 24 hours; 0 = no limit. */
  perDay: number;
  /** Of those, how many receive the signup grant; 0 = every one. */
  grantsPerDay: number;
}

export interface AuthServiceDeps {
  db: Kysely<DB>;
  users: Pick<UserRepository, 'create' | 'findCredentials'>;
  registrations: RegistrationRepository;
  signupLimits: SignupLimits;
  sessions: Pick<SessionRepository, 'start' | 'rotate' | 'revokeByToken'>;
  passwords: PasswordHasher;
  tokens: Pick<TokenService, 'sign' | 'ttlSeconds'>;
  refreshTtlSeconds: number;
}

const INVALID_LOGIN = 'Invalid email or password';
const INVALID_REFRESH = 'Invalid or expired refresh token';

/** Register, log in, refresh and log out. Passwords and tokens never leave this file unhashed except to their owner. */
export function createAuthService({
  db,
  users,
  registrations,
  signupLimits,
  sessions,
  passwords,
  tokens,
  refreshTtlSeconds,
}: AuthServiceDeps) {
  const newRefreshToken = () => {
    const token = randomSecret();
    return { token, tokenHash: sha256Hex(token), expiresAt: new Date(Date.now() + refreshTtlSeconds * 1000) };
  };

  const issue = async (user: { id: string; email: string; role: Role }, refreshToken: string) => ({
    accessToken: await tokens.sign({ sub: user.id, email: user.email, role: user.role }),
    refreshToken,
    tokenType: 'Bearer' as const,
    expiresIn: tokens.ttlSeconds,
  });

  return {
    /**
     * `clientAddress` (the rate limiter's key of the caller's IP) bounds sign-ups per address and
     * day, and which of them receive the signup grant: farming grants takes many addresses.
     */
    async register(input: { email: string; password: string; name: string }, clientAddress?: string) {
      // Hash before the insert, so a taken email answers no faster than a new one.
      const passwordHash = await passwords.hash(input.password);
      const limited = signupLimits.perDay > 0 || signupLimits.grantsPerDay > 0;
      try {
        return await inTransaction(db, async (trx) => {
          let granted = true;
          if (clientAddress !== undefined && limited) {
            const ipHash = sha256Hex(clientAddress);
            await registrations.lockAddress(trx, ipHash);
            const recent = await registrations.lastDay(trx, ipHash);
            if (signupLimits.perDay > 0 && recent.total >= signupLimits.perDay) {
              const expires = recent.oldestExpiresAt?.getTime() ?? Date.now();
              throw new RegistrationLimitError(
                signupLimits.perDay,
                Math.max(1, Math.ceil((expires - Date.now()) / 1000)),
              );
            }
            granted = signupLimits.grantsPerDay === 0 || recent.granted < signupLimits.grantsPerDay;
            await registrations.record(trx, ipHash, granted);
          }
          const user = await users.create(
            { email: input.email, name: input.name, passwordHash },
            { trx, granted },
          );
          return toUserDto(user);
        });
      } catch (error) {
        if (isUniqueViolation(error, 'users_email_lower_key')) {
          throw ApiError.conflict('An account with this email already exists', 'EMAIL_TAKEN');
        }
        throw error;
      }
    },

    async login(input: { email: string; password: string }) {
      const user = await users.findCredentials(input.email);
      if (!user?.passwordHash) {
        // Same work and same answer as a wrong password: the response does not tell which emails exist.
        await passwords.burnVerification(input.password);
        throw ApiError.unauthorized(INVALID_LOGIN);
      }
      if (!(await passwords.verify(user.passwordHash, input.password)))
        throw ApiError.unauthorized(INVALID_LOGIN);
      const { token, tokenHash, expiresAt } = newRefreshToken();
      await sessions.start({ userId: user.id, tokenHash, expiresAt });
      return issue(user, token);
    },

    async refresh(refreshToken: string) {
      const next = newRefreshToken();
      const result = await sessions.rotate(sha256Hex(refreshToken), next);
      if (result.status === 'reused') {
        throw ApiError.unauthorized('Refresh token already used: this session has been ended, sign in again');
      }
      if (result.status !== 'rotated') throw ApiError.unauthorized(INVALID_REFRESH);
      return issue(result.user, next.token);
    },

    /** Idempotent: logging out twice, or with an unknown token, is not an error. */
    async logout(refreshToken: string): Promise<void> {
      await sessions.revokeByToken(sha256Hex(refreshToken));
    },
  };
}
