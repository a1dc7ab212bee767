import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ImageManifest } from '@romulus/shared';

/**
 * A per-stack images dir: symlinks to the host's built images, plus images derived for the test from one
 * of them (a copy of its rootfs whose baked-in /etc/romulus/image.json is replaced with debugfs, so the
 * guest agent runs a different workload). Lets a suite run a purpose-made workload without building an
 * image from scratch.
 */
export interface DerivedImage {
  name: string;
  from: string;
  patch: Partial<ImageManifest>;
}

export function prepareImagesDir(hostImages: string, into: string, derived: DerivedImage[]): string {
  mkdirSync(into, { recursive: true });
  for (const name of readdirSync(hostImages)) symlinkSync(path.join(hostImages, name), path.join(into, name));
  for (const d of derived) {
    const src = path.join(hostImages, d.from);
    const dst = path.join(into, d.name);
    mkdirSync(dst);
    const base = JSON.parse(readFileSync(path.join(src, 'manifest.json'), 'utf8')) as ImageManifest;
    const manifest: ImageManifest = { ...base, ...d.patch, name: d.name };
    delete manifest.contentHash;
    const rootfs = path.join(dst, 'rootfs.ext4');
    copyFileSync(path.join(src, 'rootfs.ext4'), rootfs);
    const json = path.join(dst, 'image.json');
    writeFileSync(json, JSON.stringify(manifest, null, 2), { mode: 0o644 });
    const cmds = path.join(dst, 'debugfs.cmds');
    writeFileSync(cmds, `cd /etc/romulus\nrm image.json\nwrite ${json} image.json\nsif image.json mode 0100644\n`);
    execFileSync('debugfs', ['-w', '-f', cmds, rootfs], { stdio: 'ignore' });
    const check = execFileSync('debugfs', ['-R', 'cat /etc/romulus/image.json', rootfs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (JSON.parse(check).name !== d.name) throw new Error(`could not rewrite /etc/romulus/image.json in ${rootfs}`);
    writeFileSync(path.join(dst, 'manifest.json'), JSON.stringify(manifest, null, 2));
  }
  return into;
}

/**
 * A tiny HTTP + WebSocket workload on the Node binary every Romulus image ships (/opt/romulus/node):
 * answers each request with how many requests (and upgrades) it has served, the path, and whether an
 * Authorization header or a romulus token (cookie or query) arrived, so a test can prove a refused request
 * never reached the VM and that credentials were stripped. A WebSocket upgrade gets one text frame back
 * with the same facts. Uses only node's core modules.
 */
const COUNTING_SERVER_JS = [
  "const http = require('http'), crypto = require('crypto'); let n = 0;",
  'const facts = (q) => `auth=${q.headers.authorization ? "yes" : "no"} token=${/romulus_token/i.test((q.headers.cookie || "") + q.url) ? "yes" : "no"}`;',
  'const s = http.createServer((q, r) => { n++; const b = `n=${n} path=${q.url} ${facts(q)}\\n`;',
  "  r.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(b) }); r.end(b); });",
  "s.on('upgrade', (q, sock) => { n++; sock.on('error', () => {}); sock.on('data', () => {});",
  "  const k = crypto.createHash('sha1').update(q.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');",
  "  sock.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + k + '\\r\\n\\r\\n');",
  '  const m = Buffer.from(`ws n=${n} ${facts(q)}`); sock.write(Buffer.concat([Buffer.from([0x81, m.length]), m])); });',
  "s.listen(8080, '0.0.0.0');",
].join('\n');

export const COUNTING_HTTP_SERVER = ['/opt/romulus/node/bin/node', '-e', COUNTING_SERVER_JS];
