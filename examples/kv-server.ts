/**
 * A key-value store speaking a subset of the memcached text protocol, written
 * with the framing helpers: `readLine` for commands, `readExact` for data
 * blocks, `batch` so that the replies to pipelined commands leave in one
 * syscall.
 *
 * Commands: get/gets <key>*, set/add/replace <key> <flags> <exptime> <bytes> [noreply],
 * delete <key> [noreply], incr/decr <key> <n> [noreply], flush_all [noreply], version, quit.
 * Expiry times are kept as given but not enforced.
 *
 *   node dist/examples/kv-server.js [port]      then: printf 'set a 0 0 1\r\nx\r\nget a\r\n' | nc -N 127.0.0.1 11211
 */
import { Connection, DangaSocket, Listener, listenTcp, POLLIN, type Sock } from 'danga-socket';

/** Longest command line (memcached's keys are 250 bytes, but a multi-get names many: real clients send 180 kB). */
export const MAX_LINE = 2 * 1024 * 1024;
/** Largest value (memcached's default item size). */
export const MAX_VALUE = 1024 * 1024;
const MAX_KEY = 250;

interface Item {
  readonly flags: number;
  readonly value: Buffer;
  readonly cas: number;
}

/** The data, shared by every connection of the process. */
export class Store {
  readonly items = new Map<string, Item>();
  #cas = 0;

  put(key: string, flags: number, value: Buffer): void {
    this.items.set(key, { flags, value, cas: ++this.#cas });
  }
}

/** A data block being read: the value of a storage command. */
interface PendingStore {
  readonly command: string;
  readonly key: string;
  readonly flags: number;
  readonly bytes: number;
  readonly noreply: boolean;
}

const CRLF = '\r\n';
/** A key: 1 to 250 bytes, no control characters or spaces (bytes 0x00-0x20 and 0x7f). */
const isKey = (k: string | undefined): k is string => {
  if (k === undefined || k.length === 0 || k.length > MAX_KEY) return false;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
};
const isUint = (s: string | undefined): s is string => s !== undefined && /^\d{1,20}$/.test(s);

/** One client. */
export class KvConnection extends Connection {
  #store: Store;
  /** Set while the data block of a storage command is awaited. */
  #pending: PendingStore | null = null;
  /** Bytes of a too-large value still to be swallowed. */
  #skip = 0;

  constructor(sock: Sock, store: Store) {
    super(sock);
    this.#store = store;
    this.setIdleTimeout(300);
    this.setWriteWatermarks(4 << 20, 1 << 20);
  }

  override eventRead(): void {
    // Every reply of this batch of commands leaves in one writev.
    this.batch(() => this.#serve());
  }

  #serve(): void {
    // Reading stops while the client is not reading its replies (onWriteHigh): commands already
    // buffered wait too, and are delivered again once reading is back on.
    while (this.watchMask() & POLLIN) {
      if (this.#skip > 0) {
        const buf = this.readSome(Math.min(this.#skip, 65536));
        if (buf === undefined) return;
        if (buf === null) return this.end();
        this.#skip -= buf.length;
        continue;
      }
      const pending = this.#pending;
      if (pending !== null) {
        const block = this.readExact(pending.bytes + 2);
        if (block === undefined) return;
        if (block === null) return this.end();
        this.#pending = null;
        if (block[pending.bytes] !== 0x0d || block[pending.bytes + 1] !== 0x0a) {
          this.write('CLIENT_ERROR bad data chunk' + CRLF);
          continue;
        }
        this.#store1(pending, block.subarray(0, pending.bytes));
        continue;
      }
      let line: Buffer | null | undefined;
      try {
        line = this.readLine(MAX_LINE);
      } catch {
        // ERR_DANGA_FRAME_TOO_LONG: a client this far out of protocol cannot be resynchronised.
        this.write('CLIENT_ERROR line too long' + CRLF);
        return this.end();
      }
      if (line === undefined) return;
      if (line === null) return this.end();
      if (!this.#command(line.toString('latin1'))) return;
    }
  }

  /** Runs one command line; false when the connection is ending. */
  #command(line: string): boolean {
    const words = line.split(' ').filter((w) => w.length > 0);
    const [cmd, ...args] = words;
    const store = this.#store;
    switch (cmd) {
      case 'get':
      case 'gets': {
        if (args.length === 0 || !args.every(isKey)) return this.#reply('ERROR');
        const out: Array<string | Buffer> = [];
        for (const key of args) {
          const item = store.items.get(key);
          if (item === undefined) continue;
          const cas = cmd === 'gets' ? ` ${item.cas}` : '';
          out.push(`VALUE ${key} ${item.flags} ${item.value.length}${cas}${CRLF}`, item.value, CRLF);
        }
        out.push('END' + CRLF);
        this.write(out);
        return true;
      }
      case 'set':
      case 'add':
      case 'replace': {
        const [key, flags, exptime, bytes, noreply] = args;
        if (!isKey(key) || !isUint(flags) || !isUint(exptime) || !isUint(bytes) || args.length > 5 || (noreply !== undefined && noreply !== 'noreply')) {
          return this.#reply('CLIENT_ERROR bad command line format');
        }
        const size = Number(bytes);
        if (size > MAX_VALUE) {
          this.#skip = size + 2;
          return this.#reply('SERVER_ERROR object too large for cache');
        }
        this.#pending = { command: cmd, key, flags: Number(flags) >>> 0, bytes: size, noreply: noreply !== undefined };
        return true;
      }
      case 'delete': {
        const [key, noreply] = args;
        if (!isKey(key)) return this.#reply('ERROR');
        const found = store.items.delete(key);
        return noreply === 'noreply' ? true : this.#reply(found ? 'DELETED' : 'NOT_FOUND');
      }
      case 'incr':
      case 'decr': {
        const [key, delta, noreply] = args;
        if (!isKey(key) || !isUint(delta)) return this.#reply('CLIENT_ERROR invalid numeric delta argument');
        const item = store.items.get(key);
        if (item === undefined) return noreply === 'noreply' ? true : this.#reply('NOT_FOUND');
        const text = item.value.toString('latin1');
        if (!/^\d{1,20}$/.test(text)) return this.#reply('CLIENT_ERROR cannot increment or decrement non-numeric value');
        const max = (1n << 64n) - 1n;
        let n = BigInt(text);
        n = cmd === 'incr' ? (n + BigInt(delta)) & max : n > BigInt(delta) ? n - BigInt(delta) : 0n;
        store.put(key, item.flags, Buffer.from(n.toString(), 'latin1'));
        return noreply === 'noreply' ? true : this.#reply(n.toString());
      }
      case 'flush_all':
        store.items.clear();
        return args.includes('noreply') ? true : this.#reply('OK');
      case 'version':
        return this.#reply('VERSION danga-socket-kv 1.0');
      case 'quit':
        this.end();
        return false;
      case undefined: // an empty line
      default:
        return this.#reply('ERROR');
    }
  }

  #store1(p: PendingStore, value: Buffer): void {
    const store = this.#store;
    const exists = store.items.has(p.key);
    let stored = true;
    if ((p.command === 'add' && exists) || (p.command === 'replace' && !exists)) stored = false;
    // Copied: the Buffer may share memory with the bytes read after it.
    if (stored) store.put(p.key, p.flags, Buffer.from(value));
    if (!p.noreply) this.write((stored ? 'STORED' : 'NOT_STORED') + CRLF);
  }

  #reply(text: string): true {
    this.write(text + CRLF);
    return true;
  }

  // A client that does not read its replies: stop reading its commands.
  override onWriteHigh(): void {
    this.watchRead(false);
  }

  override onWriteLow(): void {
    this.watchRead(true);
  }
}

/** Listens on `port` (0 picks one) with a fresh store; returns the listener. */
export function startKvServer(port: number, host = '127.0.0.1', store = new Store()): Listener {
  return new Listener(listenTcp({ host, port }), (sock) => new KvConnection(sock, store));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const listener = startKvServer(Number(process.argv[2] ?? 11211));
  console.log(`kv server listening on ${listener.localAddrString()}`);
  DangaSocket.setErrorHandler((err, conn) => console.error(`${conn.asString()}: ${String(err)}`));
  process.once('SIGINT', () => void DangaSocket.shutdown({ timeout: 10 }));
  process.once('SIGTERM', () => void DangaSocket.shutdown({ timeout: 10 }));
  await DangaSocket.eventLoop();
}
