/**
 * Byte-exact integrity: 64 MiB of random bytes through an echo server, in
 * random-sized writes with callbacks between them, through partial writes,
 * backpressure (the echo side stops reading while its queue is full) and
 * writev of queued data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DangaSocket, listenTcp, connectTcp, socketPair, type Sock } from 'danga-socket';
import { runUntil, Echo, Listener, testRandom, testRandomBytes } from '../helpers.js';

const TOTAL = 64 * 1024 * 1024;

class Source extends DangaSocket {
  received = 0;
  readonly hash = createHash('sha256');
  markersRun = 0;
  markerErrors: string[] = [];

  override eventRead(): void {
    for (;;) {
      const buf = this.read(256 * 1024);
      if (buf === null) {
        this.close('eof');
        return;
      }
      if (buf.length === 0) return;
      this.hash.update(buf);
      this.received += buf.length;
    }
  }

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }

  /**
   * Queues `data` in random slices with a marker callback after some. When a
   * marker runs, everything queued before it must have left the queue, so
   * the queue holds exactly what was queued after it.
   */
  send(data: Buffer): void {
    let queued = 0; // weight that went into the queue so far (bytes, +1 per callback)
    let finalQueued = -1;
    let off = 0;
    let markerNo = 0;
    while (off < data.length) {
      const len = Math.min(data.length - off, 1 + Math.floor(testRandom() * 200_000));
      const before = this.writeBufSize;
      this.write(data.subarray(off, off + len));
      queued += this.writeBufSize - before; // send() runs synchronously: nothing drains meanwhile
      off += len;
      if (testRandom() < 0.3) {
        const expectedNo = markerNo++;
        const inQueue = this.writeBufSize > 0;
        if (inQueue) queued += 1;
        const queuedThroughMarker = queued;
        this.write(() => {
          if (this.markersRun !== expectedNo) this.markerErrors.push(`marker ${expectedNo} ran as #${this.markersRun}`);
          this.markersRun++;
          if (inQueue && this.writeBufSize !== finalQueued - queuedThroughMarker) {
            this.markerErrors.push(`marker ${expectedNo}: writeBufSize ${this.writeBufSize}, expected ${finalQueued - queuedThroughMarker}`);
          }
        });
      }
    }
    finalQueued = queued;
    this.markerCount = markerNo;
  }

  markerCount = 0;
}

async function roundTrip(makePair: () => Promise<[Sock, (s: Sock) => void]> | [Sock, (s: Sock) => void]): Promise<void> {
  const data = testRandomBytes(TOTAL);
  const expected = createHash('sha256').update(data).digest('hex');
  const [clientSock, startServer] = await makePair();
  void startServer;
  const source = new Source(clientSock);
  source.watchRead(true);
  source.send(data);
  await runUntil(() => source.received >= TOTAL || source.closed, 50);
  assert.equal(source.received, TOTAL, 'every byte came back');
  assert.equal(source.hash.digest('hex'), expected, 'byte-exact, in order');
  assert.deepEqual(source.markerErrors, []);
  assert.ok(source.markerCount > 50, 'markers were queued');
  assert.equal(source.markersRun, source.markerCount, 'every marker ran, in order');
  DangaSocket.reset();
}

test('64 MiB echoed byte-exact over TCP with markers, partial writes and backpressure', { timeout: 120_000 }, async () => {
  const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => new Echo(s));
  const port = (listener.sock()!.localAddress() as { port: number }).port;
  await roundTrip(() => [connectTcp({ host: '127.0.0.1', port }), () => {}]);
});

test('64 MiB echoed byte-exact over a socketpair', { timeout: 120_000 }, async () => {
  await roundTrip(() => {
    const [a, b] = socketPair();
    new Echo(b);
    return [a, () => {}];
  });
});
