/**
 * node-internals.ts: the self-check passes on this Node; a missing or
 * changed internal is named in an ERR_DANGA_NODE_UNSUPPORTED error; and the
 * internals do what the engine relies on (on real streams and sockets).
 *
 * This file imports the module alone (not the library), so the self-check
 * below is this process's first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import net from 'node:net';
import { Readable } from 'node:stream';
import { checkInternals, eofReceived, listenSync, selfCheck, type InternalsSubjects } from '../../../src/engines/node/node-internals.js';

/** Objects with every internal the check looks for. */
function goodShapes(): InternalsSubjects {
  return {
    endedStream: { _readableState: { ended: true } },
    freshStream: { _readableState: { ended: false } },
    server: { _listen2() {} },
    tlsSocket: { _releaseControl() {}, _handle: { verifyError: () => null } },
  };
}

function unsupported(names: string[]): (err: unknown) => boolean {
  return (err) => {
    const e = err as Error & { code?: string; internals?: string[] };
    assert.equal(e.code, 'ERR_DANGA_NODE_UNSUPPORTED');
    assert.deepEqual(e.internals, names);
    for (const name of names) assert.ok(e.message.includes(name), `the message names ${name}: ${e.message}`);
    assert.ok(e.message.includes(process.version), 'and the Node version');
    return true;
  };
}

test('selfCheck() passes on this Node (on throwaway objects)', () => {
  assert.doesNotThrow(() => selfCheck());
  assert.doesNotThrow(() => selfCheck(), 'once checked, again is free');
});

test('checkInternals(): shapes with every internal pass', () => {
  assert.doesNotThrow(() => checkInternals(goodShapes()));
});

test('checkInternals(): a missing internal gives ERR_DANGA_NODE_UNSUPPORTED naming it', () => {
  const s = goodShapes();
  assert.throws(() => checkInternals({ ...s, server: {} }), unsupported(['net.Server#_listen2']));
  assert.throws(() => checkInternals({ ...s, tlsSocket: { _handle: { verifyError: () => null } } }), unsupported(['tls.TLSSocket#_releaseControl']));
  assert.throws(() => checkInternals({ ...s, tlsSocket: { _releaseControl() {}, _handle: null } }), unsupported(['tls.TLSSocket#_handle.verifyError']));
  assert.throws(() => checkInternals({ ...s, endedStream: {} }), unsupported(['stream.Readable#_readableState.ended']));
});

test('checkInternals(): a changed internal counts as missing, and all of them are named at once', () => {
  const s = goodShapes();
  // `ended` kept under another meaning (a number, say) is no longer what the engine reads.
  assert.throws(() => checkInternals({ ...s, endedStream: { _readableState: { ended: 1 } } }), unsupported(['stream.Readable#_readableState.ended']));
  // A getter that throws is as good as missing.
  const throwing = {
    get _readableState(): never {
      throw new Error('gone');
    },
  };
  assert.throws(
    () => checkInternals({ endedStream: throwing, freshStream: throwing, server: { _listen2: 'no' }, tlsSocket: {} }),
    unsupported(['stream.Readable#_readableState.ended', 'net.Server#_listen2', 'tls.TLSSocket#_releaseControl', 'tls.TLSSocket#_handle.verifyError']),
  );
});

test('eofReceived(): true as soon as the EOF arrived, before the data in front of it is read (readableEnded is not)', () => {
  const s = new Readable({ read() {} });
  s.push('last words');
  assert.equal(eofReceived(s), false);
  s.push(null);
  assert.equal(s.readableLength, 10);
  assert.equal(eofReceived(s), true);
  assert.equal(s.readableEnded, false, 'the documented flag waits for a read');
  s.destroy();
});

test('listenSync(): binds at once; a failure is known at once and its Error is published synchronously', async () => {
  const server = net.createServer();
  assert.equal(listenSync(server, '127.0.0.1', 0, 4, 511), true);
  const { port } = server.address() as net.AddressInfo;
  assert.ok(port > 0, 'the port is known before any tick');

  const second = net.createServer();
  const published: unknown[] = [];
  const onError = (message: unknown): void => {
    published.push(message);
  };
  const emitted = new Promise<Error>((resolve) => second.once('error', resolve));
  subscribe('tracing:net.server.listen:error', onError);
  let listening: boolean;
  try {
    listening = listenSync(second, '127.0.0.1', port, 4, 511);
  } finally {
    unsubscribe('tracing:net.server.listen:error', onError);
  }
  assert.equal(listening, false);
  assert.equal(published.length, 1, 'published before listenSync returned');
  const { server: who, error } = published[0] as { server: unknown; error: Error & { code?: string } };
  assert.equal(who, second);
  assert.equal(error.code, 'EADDRINUSE');
  assert.equal(await emitted, error, "the same Error is the server's 'error' on the next tick");
  server.close();
});

test('listenSync() without net.Server#_listen2, where listen() binds later (Node): ERR_DANGA_NODE_UNSUPPORTED names it, nothing listens', () => {
  const server = net.createServer();
  Object.defineProperty(server, '_listen2', { value: undefined });
  assert.throws(() => listenSync(server, '127.0.0.1', 0, 4, 511), unsupported(['net.Server#_listen2']));
  assert.equal(server.listening, false);
});
