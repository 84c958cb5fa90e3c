import { z } from 'zod';
import { ok } from '../../lib/http-schemas.ts';

// Bounded before anything expensive: a 10,000-character password is a 400, never an argon2 run.
export const emailField = z.email().max(320);
const newPassword = z.string().min(10).max(256);

/** `.strictObject`: a `role` (or anything else) in the body is a 400, never silently applied. */
export const registerBody = z
  .strictObject({
    email: emailField,
    password: newPassword,
    name: z.string().trim().min(1).max(200),
  })
  .refine((body) => body.password.trim().toLowerCase() !== body.email.toLowerCase(), {
    path: ['password'],
    message: 'must not be the email address',
  });

export const loginBody = z.strictObject({
  email: z.string().min(1).max(320),
  password: z.string().min(1).max(256),
});

export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(200) });

export const tokenPairResponse = ok(
  z
    .object({
      accessToken: z.string().describe('JWT for `Authorization: Bearer`'),
      refreshToken: z.string().describe('Opaque; exchange it once at /api/auth/refresh'),
      tokenType: z.literal('Bearer'),
      expiresIn: z.number().int().describe('Seconds until the access token expires'),
    })
    .meta({ id: 'TokenPair' }),
);
