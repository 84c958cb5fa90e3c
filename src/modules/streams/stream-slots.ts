/**
 * Open streams per client (a signed-in user, else an IP) on this instance. A slot is taken before
 * the stream starts (past the limit: 429) and given back when it ends, whichever way.
 */
export function createStreamSlots(perClient: number) {
  const open = new Map<string, number>();
  return {
    /** A release function, or undefined when `client` already holds `perClient` streams. */
    take(client: string): (() => void) | undefined {
      const held = open.get(client) ?? 0;
      if (perClient > 0 && held >= perClient) return undefined;
      open.set(client, held + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const now = (open.get(client) ?? 1) - 1;
        if (now <= 0) open.delete(client);
        else open.set(client, now);
      };
    },
  };
}
export type StreamSlots = ReturnType<typeof createStreamSlots>;
