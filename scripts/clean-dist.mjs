#!/usr/bin/env node
// Removes dist/ before a build, so that files deleted or moved in the sources
// (a test renamed, a module gone) do not linger as stale compiled copies.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

rmSync(fileURLToPath(new URL('../dist', import.meta.url)), { recursive: true, force: true });
