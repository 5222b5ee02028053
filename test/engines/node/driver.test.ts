/**
 * NodeDriver: the node engine's loop driver. What it cannot do: watch
 * foreign fds, which need the kernel's readiness (the epoll engine).
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket } from 'danga-socket';
import { skipOn } from '../../helpers.js';

afterEach(() => DangaSocket.reset());

test('addOtherFds() on the node engine throws ERR_DANGA_NO_EPOLL', { skip: skipOn('nodeDriver') }, () => {
  assert.throws(
    () => DangaSocket.addOtherFds({ 0: () => {} }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DANGA_NO_EPOLL');
      assert.match(err.message, /epoll/);
      return true;
    },
  );
  assert.equal(DangaSocket.otherFds().size, 0);
});
