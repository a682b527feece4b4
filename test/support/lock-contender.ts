/**
 * A process that contends for locks on command, for the lock race tests: it answers each
 * `{ path }` message with whether `tryLock` took that lock, and keeps every lock it took until it
 * is told to exit (a holder that stays alive, so no other contender may judge it stale).
 */
import { tryLock } from '../../src/core/transfer/lock-file.js';

process.on('message', (message: { path?: string; exit?: boolean }) => {
  if (message.exit) process.exit(0);
  if (!message.path) return;
  tryLock(message.path).then(
    (attempt) => process.send!({ path: message.path, acquired: attempt.acquired }),
    (error: unknown) => process.send!({ path: message.path, acquired: false, error: String(error) }),
  );
});
process.send!({ ready: true });
