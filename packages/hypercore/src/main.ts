/**
 * The hypercore node daemon.
 *   node --import tsx packages/hypercore/src/main.ts --config /etc/romulus/node.yaml
 * The node token comes from the config file or ROMULUS_NODE_TOKEN.
 *
 * SIGTERM/SIGINT stop the API and the node's loops but leave VMs running: a restarted daemon adopts them
 * (the point is that upgrading or restarting the daemon never kills agents). Stop VMs through the API.
 */
import { Command } from 'commander';
import { ConfigError, loadConfigFile } from './config.ts';
import { startNode } from './node.ts';

const program = new Command()
  .name('romulus-node')
  .description('Romulus hypercore node daemon')
  .option('-c, --config <file>', 'config file (YAML or JSON)')
  .option('--cleanup-network-on-exit', 'remove the bridge and nftables tables on exit when no VM runs')
  .parse();
const opts = program.opts<{ config?: string; cleanupNetworkOnExit?: boolean }>();

try {
  const config = loadConfigFile(opts.config);
  if (opts.cleanupNetworkOnExit) config.cleanupNetworkOnClose = true;
  const node = await startNode(config);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`romulus-node: ${sig}: closing (VMs keep running)\n`);
    node.close().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`romulus-node: close failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`romulus-node: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`romulus-node: failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
