/**
 * A deliberately broken writer, for test/sim/injected-bug.test.ts only: it
 * runs a write callback one entry early, while the last piece of data
 * queued before it has not been taken by the socket yet. Nothing in the
 * library changes: the bug lives in this test subclass.
 */
import type { WriteData } from 'danga-socket';
import { CallbackWriter } from './scenarios.js';

/** CallbackWriter with the bug: a callback queued behind a small remainder runs at once. */
export class EarlyCallbackWriter extends CallbackWriter {
  override write(data?: WriteData): boolean {
    if (typeof data === 'function' && this.writeBufSize > 0 && this.writeBufSize <= 256) {
      data();
      return false;
    }
    return super.write(data);
  }
}
