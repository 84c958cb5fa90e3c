import type { Role } from '../../db/schema.ts';
import { ApiError } from '../../lib/errors.ts';
import { toPublicProfileDto, toUserDto } from './user-dto.ts';
import type { UserRepository } from './users.repository.ts';
import type { ListUsersQuery } from './users.schemas.ts';

export type UsersService = ReturnType<typeof createUsersService>;

/** Accounts as their owners and admins see them. Who may call what is the routes' declaration. */
export function createUsersService({
  users,
  profiles = users,
}: {
  users: Pick<UserRepository, 'findById' | 'updateName' | 'list' | 'changeRole'>;
  profiles?: Pick<UserRepository, 'findById'> | undefined;
}) {
  return {
    async me(userId: string) {
      const user = await users.findById(userId);
      if (!user) throw ApiError.notFound('User');
      return toUserDto(user);
    },

    async rename(userId: string, name: string) {
      const user = await users.updateName(userId, name);
      if (!user) throw ApiError.notFound('User');
      return toUserDto(user);
    },

    async profile(userId: string) {
      const user = await profiles.findById(userId);
      if (!user) throw ApiError.notFound('User');
      return toPublicProfileDto(user);
    },

    async list(query: ListUsersQuery) {
      const { rows, hasMore, total } = await users.list(query);
      return {
        data: rows.map(toUserDto),
        meta: { limit: query.limit, offset: query.offset, hasMore, ...(total !== undefined && { total }) },
      };
    },

    async changeRole(userId: string, role: Role) {
      const result = await users.changeRole(userId, role);
      if (result === 'not-found') throw ApiError.notFound('User');
      if (result === 'last-admin') throw ApiError.conflict('The last admin cannot be demoted', 'LAST_ADMIN');
      return toUserDto(result);
    },
  };
}
