import { hash, verify } from '@node-rs/argon2';

// `Algorithm.Argon2id`: the package exports it as a const enum, which type stripping cannot inline.
const ARGON2ID = 2;

export interface PasswordHasherOptions {
  memoryKib: number;
  iterations: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or an unreadable stored hash; never throws on bad input. */
  verify(storedHash: string, password: string): Promise<boolean>;
  /**
   * Spends the time of one verification on nothing, so "no such user" answers as slowly as
   * "wrong password" and response times do not reveal which emails have accounts.
   */
  burnVerification(password: string): Promise<void>;
}

/** argon2id (RFC 9106) on libuv's thread pool: hashing never blocks the event loop. */
export function createPasswordHasher({ memoryKib, iterations }: PasswordHasherOptions): PasswordHasher {
  const options = {
    algorithm: ARGON2ID,
    memoryCost: memoryKib,
    timeCost: iterations,
    parallelism: 1,
  };
  // Made on first use with the same cost as real hashes, so verifying against it takes as long.
  let dummy: Promise<string> | undefined;

  const check = async (storedHash: string, password: string) => {
    try {
      return await verify(storedHash, password);
    } catch {
      return false;
    }
  };

  return {
    hash: (password) => hash(password, options),
    verify: check,
    async burnVerification(password) {
      dummy ??= hash('not-a-real-password-only-spends-time', options);
      await check(await dummy, password);
    },
  };
}
