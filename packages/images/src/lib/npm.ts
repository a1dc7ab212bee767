import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '@romulus/shared';
import { stage } from './progress.ts';
import { run } from './run.ts';

/** `npm pack npm@<version>` into the cache (npm for images that install npm packages). */
export async function npmTarball(version: string): Promise<string> {
  const dir = path.join(cacheDir(), 'npm');
  const file = path.join(dir, `npm-${version}.tgz`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  stage('npm', `npm pack npm@${version}`);
  await run('npm', ['pack', '--silent', `npm@${version}`], { cwd: dir });
  if (!existsSync(file)) throw new Error(`npm pack did not produce ${file}`);
  return file;
}
