#!/usr/bin/env node
// Launcher for the `romulus` CLI: registers tsx (the host side runs TypeScript directly, no build step)
// and runs src/main.ts in this same process, so signals (Ctrl-C for `romulus up`) reach it directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
