/**
 * The file scenarios' DangaSocket server: examples/static-server.ts serving
 * `--root` (engine from DANGA_ENGINE; the bench runs it on epoll, where the
 * body goes out with sendfile(2)). First stdout line: `<port> engine=<name>`.
 */
import { DangaSocket } from 'danga-socket';
import { startStaticServer } from '../../examples/static-server.js';
import { parseServerArgs, serveControl } from './control.js';

const { port, root } = parseServerArgs(process.argv.slice(2));
const listener = startStaticServer(root, port);
const addr = listener.requireSock().localAddress();
process.stdout.write(`${addr && 'port' in addr ? addr.port : 0} engine=${DangaSocket.engine()}\n`);
serveControl();
await DangaSocket.eventLoop();
