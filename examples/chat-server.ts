/**
 * A line-based chat: every line a client sends goes to all the others.
 *
 *   node dist/examples/chat-server.js [port]      then, in two terminals: nc 127.0.0.1 7001
 */
import { DangaSocket, listenTcp, type Sock } from 'danga-socket';

/** Past this many queued bytes a client is too slow to keep: it is dropped rather than let memory grow. */
const MAX_BACKLOG = 1024 * 1024;
const MAX_LINE = 64 * 1024;

/** One chat member. */
export class ChatClient extends DangaSocket {
  static readonly members = new Set<ChatClient>();
  private partial = '';
  readonly name: string;

  constructor(sock: Sock) {
    super(sock);
    this.name = this.peerAddrString() ?? `fd${this.fd}`;
    ChatClient.members.add(this);
    this.watchRead(true);
    this.write(`* welcome ${this.name}; ${ChatClient.members.size - 1} other(s) here\n`);
    this.broadcast(`* ${this.name} joined\n`);
  }

  override eventRead(): void {
    const buf = this.read(16 * 1024);
    if (buf === null) {
      this.close('eof');
      return;
    }
    this.partial += buf.toString('utf8');
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl).replace(/\r$/, '');
      this.partial = this.partial.slice(nl + 1);
      if (line.length > 0) this.broadcast(`<${this.name}> ${line}\n`);
    }
    if (this.partial.length > MAX_LINE) {
      this.write('* line too long\n');
      this.write(() => this.close('line too long'));
    }
  }

  /** Sends `text` to every member but this one. */
  broadcast(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    for (const member of ChatClient.members) {
      if (member === this || member.closed) continue;
      if (member.writeBufSize > MAX_BACKLOG) member.close('too slow');
      else member.write(bytes);
    }
  }

  override close(reason?: string): void {
    if (this.closed) return;
    ChatClient.members.delete(this);
    super.close(reason);
    this.broadcast(`* ${this.name} left\n`);
  }

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/** The listening socket. */
export class ChatListener extends DangaSocket {
  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    let s: Sock | null;
    while ((s = this.sock()!.accept()) !== null) new ChatClient(s);
  }
}

/** Starts listening; returns the listener (the loop must run to serve). */
export function startChatServer(port: number, host = '127.0.0.1'): ChatListener {
  return new ChatListener(listenTcp({ host, port }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const listener = startChatServer(Number(process.argv[2] ?? 7001));
  console.log(`chat server listening on ${listener.localAddrString()}`);
  process.once('SIGINT', () => DangaSocket.addTimer(0, () => DangaSocket.setPostLoopCallback(() => false)));
  await DangaSocket.eventLoop();
  DangaSocket.reset();
}
