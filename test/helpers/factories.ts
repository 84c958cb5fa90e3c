/** A valid create-market body; override any field. */
export function marketBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `Will it rain in Paris on day ${Math.floor(Math.random() * 1e9)}?`,
    description: 'Resolves YES if Météo-France reports rain.',
    category: 'weather',
    tags: ['paris', 'rain'],
    closesAt: new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString(),
    ...overrides,
  };
}
