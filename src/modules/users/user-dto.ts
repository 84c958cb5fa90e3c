import { z } from 'zod';
import { toUnits } from '../../domain/money.ts';
import type { UserRecord } from './users.repository.ts';

/** What a user sees of their own account (and an admin of anyone's). Add a field here and in toUserDto. */
export const userSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.enum(['admin', 'moderator', 'user']),
    balance: z.number().describe('Play money, in units'),
    createdAt: z.string(),
  })
  .meta({ id: 'User' });
export type UserDto = z.infer<typeof userSchema>;

/** What anyone may see of anyone: no email, no role. */
export const publicProfileSchema = z
  .object({ id: z.string(), name: z.string(), createdAt: z.string() })
  .meta({ id: 'PublicProfile' });
export type PublicProfileDto = z.infer<typeof publicProfileSchema>;

export function toUserDto(user: UserRecord): UserDto {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    balance: toUnits(user.balance),
    createdAt: user.createdAt.toISOString(),
  };
}

export function toPublicProfileDto(user: Pick<UserRecord, 'id' | 'name' | 'createdAt'>): PublicProfileDto {
  return { id: user.id, name: user.name, createdAt: user.createdAt.toISOString() };
}
