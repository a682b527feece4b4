import { compareKeys } from '../s3/list.js';

/** One name seen while walking two sorted listings together. */
export interface MarchStep<S, D> {
  name: string;
  source: S | undefined;
  destination: D | undefined;
}

/**
 * Walks two listings sorted by name (UTF-8 byte order) in lock step, as rclone's march does: each
 * name comes out once, with what each side has of it. One pass, constant memory.
 */
export async function* march<S extends { name: string }, D extends { name: string }>(
  sourceEntries: AsyncIterable<S>,
  destinationEntries: AsyncIterable<D>,
): AsyncGenerator<MarchStep<S, D>> {
  const sources = sourceEntries[Symbol.asyncIterator]();
  const destinations = destinationEntries[Symbol.asyncIterator]();
  // Both sides start at once: the listing's first request goes out while the walk reads its first directory.
  let [source, destination] = await Promise.all([sources.next(), destinations.next()]);
  let previous: string | undefined;
  while (!source.done || !destination.done) {
    const order = source.done ? 1 : destination.done ? -1 : compareKeys(source.value.name, destination.value.name);
    const step: MarchStep<S, D> =
      order < 0
        ? { name: (source.value as S).name, source: source.value as S, destination: undefined }
        : order > 0
          ? { name: (destination.value as D).name, source: undefined, destination: destination.value as D }
          : { name: (source.value as S).name, source: source.value as S, destination: destination.value as D };
    if (previous !== undefined && compareKeys(previous, step.name) >= 0) {
      throw new Error(`internal: listings out of order at '${step.name}' after '${previous}'`);
    }
    previous = step.name;
    yield step;
    if (order === 0) [source, destination] = await Promise.all([sources.next(), destinations.next()]);
    else if (order < 0) source = await sources.next();
    else destination = await destinations.next();
  }
}
