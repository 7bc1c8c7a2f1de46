/** Every item of an async iterable (a view's pages), in order: what `[...iterable]` was for synchronous ones. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
