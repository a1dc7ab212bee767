#!/usr/bin/env node
// Launcher for the gateway: runs its bundle (rebuilt first when a source changed; see scripts/bundle.mjs)
// in this same process, so SIGTERM reaches the gateway directly.
import { runBundle } from '../../../scripts/bundle.mjs';

await runBundle('romulus-gateway');
