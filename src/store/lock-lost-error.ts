/** The run no longer holds its target's lock: another process took it over. Nothing was committed. */
export class LockLostError extends Error {
  override name = 'LockLostError';
  constructor(target: string) {
    super(`the sync lock of target ${target} was taken over by another process (this run was too slow or its heartbeat failed); nothing was committed, the rows stay pending`);
  }
}
