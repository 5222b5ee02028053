/**
 * `npm start`: the echo and chat servers, and a static file server serving
 * the repository's docs/, in one DangaSocket loop.
 *
 * Ports come from ECHO_PORT, CHAT_PORT and STATIC_PORT (default 7000, 7001
 * and 7002; 0 picks free ones). Ctrl-C (SIGINT) or SIGTERM shuts down gracefully: the
 * listeners close, every connection gets what is queued for it and is
 * closed, and after 5 seconds whatever is left is closed.
 */
import { fileURLToPath } from 'node:url';
import { DangaSocket } from 'danga-socket';
import { startEchoServer } from './echo-server.js';
import { startChatServer } from './chat-server.js';
import { startStaticServer } from './static-server.js';

const echo = startEchoServer(Number(process.env.ECHO_PORT ?? 7000));
const chat = startChatServer(Number(process.env.CHAT_PORT ?? 7001));
// dist/examples/demo.js → the repository's docs/
const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
const files = startStaticServer(docs, Number(process.env.STATIC_PORT ?? 7002));

const nc = (l: DangaSocket): string => `nc ${l.localAddrString()?.replace(/:(\d+)$/, ' $1')}`;
console.log(`danga-socket demo (engine: ${DangaSocket.engine()})`);
console.log(`echo server listening on ${echo.localAddrString()}   try: ${nc(echo)}`);
console.log(`chat server listening on ${chat.localAddrString()}   try, in two terminals: ${nc(chat)}`);
console.log(`static server on http://${files.localAddrString()}/ serving ${docs}   try: curl http://${files.localAddrString()}/engines-and-tls.md`);
console.log('Ctrl-C to stop');

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  const open = DangaSocket.watchedSockets();
  console.log(`\n${signal}: shutting down ${open} socket(s)`);
  // Signal handlers run outside the loop: shutdown() wakes it.
  void DangaSocket.shutdown({ timeout: 5 });
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

// Resolves once shutdown() has drained everything.
await DangaSocket.eventLoop();
const { accepted, bytesIn, bytesOut } = DangaSocket.stats();
console.log(`served ${accepted} connection(s), ${bytesIn} bytes in, ${bytesOut} bytes out; bye`);
