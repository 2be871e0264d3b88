/**
 * Runs `task` on every item with at most `limit` running at once. Fails with
 * the first error, after the running tasks have settled, and starts no new
 * task after an error.
 *
 * @param items Inputs.
 * @param limit Most tasks at once (at least 1).
 * @param task The work for one item.
 * @returns Results in input order.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index], index);
      } catch (error) {
        if (!failed) firstError = error;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw firstError;
  return results;
}
