/**
 * Level-triggered readiness: a condition that still holds fires again on the
 * next iteration, for reads and for writes.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket, socketPair } from 'danga-socket';
import { Recorder } from '../helpers.js';

afterEach(() => DangaSocket.reset());

test('write interest on a writable socket fires eventWrite on every iteration until turned off', async () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  let iteration = 0;
  const firedAt: number[] = [];
  w.onWrite = (self) => {
    firedAt.push(iteration);
    if (firedAt.length === 5) self.watchWrite(false);
  };
  w.watchWrite(true);
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => ++iteration < 10);
  await DangaSocket.eventLoop();
  assert.deepEqual(firedAt, [0, 1, 2, 3, 4], 'once per iteration, five times, then no more');
  b.close();
});

test('unread data keeps firing eventRead, once per iteration', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  let iteration = 0;
  const firedAt: number[] = [];
  r.onRead = () => {
    firedAt.push(iteration);
  };
  r.watchRead(true);
  new Recorder(b).write('never read');
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => ++iteration < 4);
  await DangaSocket.eventLoop();
  assert.deepEqual(firedAt, [0, 1, 2, 3]);
});
