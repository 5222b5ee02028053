/**
 * examples/kv-server.ts against the cases memcapable checks for the text
 * protocol, over plain TCP sockets: storage commands and their replies,
 * multi-get, binary-safe values, values split over many packets, pipelined
 * commands in one packet (and their replies in one write), noreply, bad
 * input, an over-long line, a client that half-closes after its commands.
 * On both engines.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { DangaSocket } from 'danga-socket';
import { startKvServer, MAX_VALUE } from '../../examples/kv-server.js';

let port = 0;
let loop: Promise<void> | null = null;

before(() => {
  const listener = startKvServer(0);
  port = (listener.requireSock().localAddress() as { port: number }).port;
  loop = DangaSocket.eventLoop();
});

after(async () => {
  DangaSocket.stop();
  await loop;
  DangaSocket.reset();
});

/** Sends `pieces` one after the other (each its own write), then reads until `until` matches the reply. */
function exchange(pieces: Array<string | Buffer>, until: (reply: Buffer) => boolean, opts: { halfClose?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect({ host: '127.0.0.1', port }, () => {
      c.setNoDelay(true);
      const send = (i: number): void => {
        if (i >= pieces.length) {
          if (opts.halfClose === true) c.end();
          return;
        }
        c.write(pieces[i] as string | Buffer, () => setImmediate(() => send(i + 1)));
      };
      send(0);
    });
    const finish = (): void => {
      c.destroy();
      resolve(Buffer.concat(chunks));
    };
    c.on('data', (d: Buffer) => {
      chunks.push(d);
      if (until(Buffer.concat(chunks))) finish();
    });
    c.on('end', finish);
    // A reset after the reply (the server closed with our bytes unread) ends the exchange too.
    c.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? finish() : reject(err)));
  });
}

const endsWith = (s: string) => (reply: Buffer) => reply.toString('latin1').endsWith(s);

test('set then get; gets adds a cas; a miss is just END', async () => {
  const reply = await exchange(['set k1 5 0 3\r\nabc\r\n', 'get k1\r\n', 'gets k1\r\n', 'get nope\r\n'], (r) => r.toString().split('END\r\n').length === 4);
  assert.match(reply.toString(), /^STORED\r\nVALUE k1 5 3\r\nabc\r\nEND\r\nVALUE k1 5 3 \d+\r\nabc\r\nEND\r\nEND\r\n$/);
});

test('multi-get of many keys, a 180 kB command line', async () => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `key-${i}`);
  const line = `get ${keys.join(' ')} k2\r\n`;
  assert.ok(line.length > 180_000);
  const reply = await exchange(['set k2 0 0 2\r\nhi\r\n', line], endsWith('END\r\n'));
  assert.equal(reply.toString(), 'STORED\r\nVALUE k2 0 2\r\nhi\r\nEND\r\n');
});

test('binary-safe values with CR LF inside, split over many packets', async () => {
  const value = Buffer.from('a\r\nb\r\n\0\xff\r\n', 'latin1');
  const whole = Buffer.concat([Buffer.from(`set bin 0 0 ${value.length}\r\n`), value, Buffer.from('\r\nget bin\r\n')]);
  const pieces = Array.from(whole).map((byte) => Buffer.from([byte]));
  const reply = await exchange(pieces, endsWith('END\r\n'));
  assert.equal(reply.toString('latin1'), `STORED\r\nVALUE bin 0 ${value.length}\r\n${value.toString('latin1')}\r\nEND\r\n`);
});

test('a 1 MiB value arrives in pieces and comes back whole; a bigger one is refused and swallowed', async () => {
  const value = Buffer.alloc(MAX_VALUE);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
  const big = Buffer.concat([Buffer.from(`set big 1 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]);
  const pieces: Buffer[] = [];
  for (let i = 0; i < big.length; i += 50_000) pieces.push(big.subarray(i, i + 50_000));
  pieces.push(Buffer.from('get big\r\n'));
  const reply = await exchange(pieces, endsWith('END\r\n'));
  const head = `STORED\r\nVALUE big 1 ${value.length}\r\n`;
  assert.equal(reply.subarray(0, head.length).toString(), head);
  assert.ok(reply.subarray(head.length, head.length + value.length).equals(value));

  const tooBig = Buffer.alloc(MAX_VALUE + 1, 0x61);
  const reply2 = await exchange([`set huge 0 0 ${tooBig.length}\r\n`, tooBig, '\r\nget huge\r\nversion\r\n'], (r) => r.includes('VERSION'));
  assert.equal(reply2.toString(), 'SERVER_ERROR object too large for cache\r\nEND\r\nVERSION danga-socket-kv 1.0\r\n');
});

test('pipelined commands in one packet, noreply, add/replace/delete/incr/decr, errors', async () => {
  const script =
    'set a 0 0 1 noreply\r\n1\r\n' +
    'add a 0 0 1\r\n2\r\n' +
    'replace a 0 0 2\r\n10\r\n' +
    'replace zz 0 0 1\r\nx\r\n' +
    'incr a 5\r\n' +
    'decr a 100\r\n' +
    'incr nokey 1\r\n' +
    'delete a\r\n' +
    'delete a\r\n' +
    'bogus\r\n' +
    'set bad 0 0 x\r\n' +
    'set a 0 0 1\r\nxyz\r\n' +
    'version\r\n';
  const reply = await exchange([script], endsWith('VERSION danga-socket-kv 1.0\r\n'));
  assert.equal(
    reply.toString(),
    'NOT_STORED\r\nSTORED\r\nNOT_STORED\r\n15\r\n0\r\nNOT_FOUND\r\nDELETED\r\nNOT_FOUND\r\nERROR\r\nCLIENT_ERROR bad command line format\r\n' +
      'CLIENT_ERROR bad data chunk\r\nERROR\r\nVERSION danga-socket-kv 1.0\r\n',
  );
});

test('a client that half-closes after its commands gets every reply; quit closes', async () => {
  const many = Array.from({ length: 500 }, (_, i) => `set p${i} 0 0 4\r\nv${String(i).padStart(3, '0')}\r\nget p${i}\r\n`).join('');
  const reply = await exchange([many], () => false, { halfClose: true });
  const text = reply.toString();
  assert.equal(text.split('STORED\r\n').length - 1, 500);
  assert.equal(text.split('END\r\n').length - 1, 500);
  assert.ok(text.endsWith('VALUE p499 0 4\r\nv499\r\nEND\r\n'));
  const quit = await exchange(['version\r\nquit\r\nversion\r\n'], () => false);
  assert.equal(quit.toString(), 'VERSION danga-socket-kv 1.0\r\n');
});

test('an over-long line gets CLIENT_ERROR and closes that connection only', async () => {
  const other = exchange(['set keep 0 0 1\r\nk\r\n'], endsWith('STORED\r\n'));
  const reply = await exchange([Buffer.alloc(3 * 1024 * 1024, 0x61)], () => false);
  assert.equal(reply.toString(), 'CLIENT_ERROR line too long\r\n');
  assert.equal((await other).toString(), 'STORED\r\n');
  const still = await exchange(['get keep\r\n'], endsWith('END\r\n'));
  assert.equal(still.toString(), 'VALUE keep 0 1\r\nk\r\nEND\r\n');
});
