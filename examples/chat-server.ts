/**
 * A line-based chat: every line a client sends goes to all the others.
 *
 *   node dist/examples/chat-server.js [port]      then, in two terminals: nc 127.0.0.1 7001
 */
import { Connection, DangaSocket, Listener, listenTcp, type EndOptions, type Sock } from 'danga-socket';

/** Past this many queued bytes a member is too slow to keep: the cap drops it rather than let memory grow. */
const MAX_BACKLOG = 1024 * 1024;
const MAX_LINE = 64 * 1024;

/** One chat member. */
export class ChatClient extends Connection {
  static readonly members = new Set<ChatClient>();
  readonly name: string;

  constructor(sock: Sock) {
    super(sock);
    this.setWriteCap(MAX_BACKLOG);
    this.name = this.peerAddrString() ?? `fd${this.fd}`;
    ChatClient.members.add(this);
    this.write(`* welcome ${this.name}; ${ChatClient.members.size - 1} other(s) here\n`);
    this.broadcast(`* ${this.name} joined\n`);
  }

  override eventRead(): void {
    let line: Buffer | null | undefined;
    try {
      while ((line = this.readLine(MAX_LINE)) !== undefined) {
        if (line === null) return this.end();
        if (line.length > 0) this.broadcast(`<${this.name}> ${line.toString('utf8')}\n`);
      }
    } catch {
      // No end of line within MAX_LINE (ERR_DANGA_FRAME_TOO_LONG).
      this.write('* line too long\n');
      this.end();
    }
  }

  /** Sends `text` to every member but this one. */
  broadcast(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    for (const member of ChatClient.members) {
      if (member !== this) member.write(bytes);
    }
  }

  override close(reason?: string): void {
    this.#leave();
    super.close(reason);
  }

  override end(options?: EndOptions): void {
    this.#leave(); // the others hear it at once, while this member's replies drain
    super.end(options);
  }

  #leave(): void {
    if (ChatClient.members.delete(this)) this.broadcast(`* ${this.name} left\n`);
  }
}

/** Starts listening; returns the listener (the loop must run to serve). */
export function startChatServer(port: number, host = '127.0.0.1'): Listener {
  return new Listener(listenTcp({ host, port }), (sock) => new ChatClient(sock));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const listener = startChatServer(Number(process.argv[2] ?? 7001));
  console.log(`chat server listening on ${listener.localAddrString()}`);
  process.once('SIGINT', () => void DangaSocket.shutdown({ timeout: 5 }));
  await DangaSocket.eventLoop();
}
