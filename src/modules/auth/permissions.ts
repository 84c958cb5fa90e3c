import type { Role } from '../../db/schema.ts';
import type { Scope } from './scopes.ts';

export type Permission = 'read' | 'write' | 'delete' | 'admin';
/** What a route declares: `public` (anyone, no credentials) or the permission a caller needs. */
export type Access = Permission | 'public';

/** The seed's role table, verbatim. */
export const rolePermissions: Record<Role, readonly Permission[]> = {
  admin: ['read', 'write', 'delete', 'admin'],
  moderator: ['read', 'write', 'delete'],
  user: ['read', 'write'],
};

export interface AuthUser {
  id: string;
  email: string;
  role: Role;
  /**
   * Set when the caller came with an API key: that key's scopes as far as the owner's current
   * role allows them. Absent for access tokens, which act with the whole role.
   */
  apiKey?: { id: string; scopes: readonly Scope[] } | undefined;
}

/** The roles that hold a permission (for the API document). */
export function rolesWith(permission: Permission): Role[] {
  return (Object.keys(rolePermissions) as Role[]).filter((role) =>
    rolePermissions[role].includes(permission),
  );
}

export function hasPermission(user: AuthUser, permission: Permission): boolean {
  return rolePermissions[user.role].includes(permission);
}

/** Owners may change their own resources; moderators and admins may change any. */
export function canModify(user: AuthUser, ownerId: string): boolean {
  return user.id === ownerId || user.role === 'moderator' || user.role === 'admin';
}
