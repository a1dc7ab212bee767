#!/usr/bin/env node
// Launcher for the `romulus` CLI: runs its bundle (rebuilt first when a source changed; see
// scripts/bundle.mjs) in this same process, so signals (Ctrl-C for `romulus up`) reach it directly.
import { runBundle } from '../../../scripts/bundle.mjs';

await runBundle('romulus');
