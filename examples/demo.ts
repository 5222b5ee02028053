/**
 * `npm start`: the echo and chat servers in one DangaSocket loop.
 *
 * Ports come from ECHO_PORT and CHAT_PORT (default 7000 and 7001; 0 picks
 * free ones). Ctrl-C (SIGINT) or SIGTERM ends the loop and closes everything.
 */
import { DangaSocket } from 'danga-socket';
import { startEchoServer } from './echo-server.js';
import { startChatServer } from './chat-server.js';

const echo = startEchoServer(Number(process.env.ECHO_PORT ?? 7000));
const chat = startChatServer(Number(process.env.CHAT_PORT ?? 7001));

const nc = (l: DangaSocket): string => `nc ${l.localAddrString()?.replace(/:(\d+)$/, ' $1')}`;
console.log(`danga-socket demo (engine: ${DangaSocket.engine()})`);
console.log(`echo server listening on ${echo.localAddrString()}   try: ${nc(echo)}`);
console.log(`chat server listening on ${chat.localAddrString()}   try, in two terminals: ${nc(chat)}`);
console.log('Ctrl-C to stop');

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: shutting down`);
  // Signal handlers run outside the loop; a timer brings the request into it.
  DangaSocket.addTimer(0, () => DangaSocket.setPostLoopCallback(() => false));
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

await DangaSocket.eventLoop();
const open = DangaSocket.watchedSockets();
DangaSocket.reset();
console.log(`closed ${open} socket(s); bye`);
