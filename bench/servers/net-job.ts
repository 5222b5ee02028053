/**
 * The job-server scenarios' Node `net` server, the reference: the protocol
 * of job-protocol.ts with the framing a Node developer writes by hand (the
 * unconsumed rest of a 'data' chunk kept and joined to the next; values and
 * payloads are views of the received bytes, as the helpers' are), the
 * answers to one chunk written between `cork()` and `uncork()` (one writev).
 * Control channel: control.ts, plus `jobstats`.
 */
import * as net from 'node:net';
import { parseServerArgs, serveControl } from './control.js';
import { HEADER_BYTES, JobState, MAX_LINE, MAX_PAYLOAD, REQ_MAGIC, STORED } from './job-protocol.js';

const { port } = parseServerArgs(process.argv.slice(2));
const state = new JobState();
const EMPTY: Buffer = Buffer.alloc(0);

function serve(socket: net.Socket): void {
  let pending: Buffer = EMPTY;
  let type = -1;
  let payload = 0;
  let key: string | null = null;
  let bytes = 0;
  const fail = (): void => {
    socket.destroy();
  };
  socket.on('error', fail);
  socket.on('end', () => socket.end());
  socket.on('data', (chunk: Buffer) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    socket.cork();
    try {
      for (;;) {
        const left = buf.length - at;
        if (key !== null) {
          if (left < bytes + 2) break;
          state.keep(key, buf.subarray(at, at + bytes));
          at += bytes + 2;
          key = null;
          socket.write(STORED);
          continue;
        }
        if (type >= 0) {
          if (left < payload) break;
          const answer = state.packet(type, buf.subarray(at, at + payload));
          if (answer === null) return fail();
          at += payload;
          type = -1;
          socket.write(answer);
          continue;
        }
        if (left === 0) break;
        if (buf[at] === 0) {
          if (left < HEADER_BYTES) break;
          const len = buf.readUInt32BE(at + 8);
          if (buf.readUInt32BE(at) !== REQ_MAGIC || len > MAX_PAYLOAD) return fail();
          type = buf.readUInt32BE(at + 4);
          payload = len;
          at += HEADER_BYTES;
          continue;
        }
        const nl = buf.indexOf(10, at);
        if (nl < 0 || nl - at > MAX_LINE + 1) {
          if (left > MAX_LINE + 1) return fail();
          break;
        }
        const end = nl > at && buf[nl - 1] === 13 ? nl - 1 : nl;
        const r = state.line(buf.subarray(at, end));
        at = nl + 1;
        if ('error' in r) return fail();
        if ('answer' in r) socket.write(r.answer);
        else {
          key = r.key;
          bytes = r.bytes;
        }
      }
    } finally {
      socket.uncork();
    }
    pending = at === buf.length ? EMPTY : buf.subarray(at);
  });
}

const server = net.createServer(serve);
server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(`${addr.port}\n`);
  serveControl(undefined, { jobstats: () => state.stats() });
});
