/**
 * The library the DangaSocket bench servers run: this checkout's
 * ('danga-socket', the package's self-reference), or, with
 * BENCH_DANGA_LIB=DIR, the build of another checkout (DIR/dist/src/index.js:
 * `npm run bench -- --baseline DIR`), so that the same server code runs on
 * both. The types are this checkout's.
 *
 * BENCH_COUNT_CROSSINGS=1 counts the crossings between JavaScript and the
 * native addon (crossings.ts; the control channel's `counts` command).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Danga from 'danga-socket';
import { countCrossings } from './crossings.js';

if (process.env.BENCH_COUNT_CROSSINGS === '1') countCrossings();

const dir = process.env.BENCH_DANGA_LIB;
/** The library: this checkout's, or BENCH_DANGA_LIB's build. */
export const danga = (await import(dir ? pathToFileURL(join(dir, 'dist', 'src', 'index.js')).href : 'danga-socket')) as typeof Danga;
