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
 * A tiny HTTP workload in Perl (perl-base is in every Debian minbase image): answers every request with
 * how many requests it has served, the path, and whether an Authorization header or a romulus cookie
 * arrived, so a test can prove a refused request never reached the VM and that credentials were stripped.
 */
export const COUNTING_HTTP_SERVER = [
  '/usr/bin/perl',
  '-MIO::Socket::INET',
  '-e',
  [
    'my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1) or die "listen: $!";',
    'my $n = 0;',
    'while (my $c = $s->accept) {',
    '  my $r = ""; while (my $l = <$c>) { $r .= $l; last if $l =~ /^\\r?\\n$/ }',
    '  my ($p) = $r =~ /^[A-Z]+ (\\S+)/; if (!defined $p) { close $c; next }',
    '  $n++;',
    '  my $a = ($r =~ /^authorization:/mi) ? "yes" : "no";',
    '  my $k = ($r =~ /romulus_token/i) ? "yes" : "no";',
    '  my $b = "n=$n path=$p auth=$a token=$k\\n";',
    '  print $c "HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: " . length($b) . "\\r\\nConnection: close\\r\\n\\r\\n$b";',
    '  close $c;',
    '}',
  ].join(' '),
];
