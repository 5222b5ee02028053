/**
 * Node's `net`: the echo from Node's documentation, `socket.pipe(socket)`,
 * and a sink that counts bytes and answers the count at end of stream.
 * DANGA_IDLE_TIMEOUT=<seconds> gives every connection that idle timeout, the
 * `net` way (`socket.setTimeout`, destroy on 'timeout').
 */
import * as net from 'node:net';
import { parseServerArgs, serveControl } from './control.js';

const { port, mode } = parseServerArgs(process.argv.slice(2));
const idleTimeout = Number(process.env.DANGA_IDLE_TIMEOUT ?? 0);

const server = net.createServer({ allowHalfOpen: mode === 'sink' }, (socket) => {
  socket.on('error', () => socket.destroy());
  if (idleTimeout > 0) socket.setTimeout(idleTimeout * 1000, () => socket.destroy());
  if (mode === 'sink') {
    let count = 0;
    socket.on('data', (chunk: Buffer) => {
      count += chunk.length;
    });
    socket.on('end', () => socket.end(`${count}\n`));
    return;
  }
  socket.pipe(socket);
});

server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(`${addr.port}\n`);
  serveControl();
});
