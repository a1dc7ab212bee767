/**
 * The local chain's state directory:
 *   chain-state.json     mint, decimals, token program, slot and every account the chain has written
 *   mint-authority.json  the mint authority keypair (Solana CLI format: JSON array of 64 bytes), mode 0600
 *   admin-token          bearer token for the romulus_* admin RPC methods, mode 0600
 *   server.json          url and pid of the running server (removed on stop)
 * These are development-chain credentials, not user secrets: the local chain exists for dev and tests.
 * Writes go to a temp file then rename, so a crash never leaves a half-written state file.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SavedAccount {
  address: string;
  lamports: string;
  owner: string;
  executable: boolean;
  data: string; // base64
}

export interface ChainStateFile {
  version: 1;
  mint: string;
  decimals: number;
  tokenProgram: string;
  authority: string;
  slot: number;
  accounts: SavedAccount[];
}

export interface ServerInfo {
  url: string;
  pid: number;
}

export const stateFiles = (dir: string) => ({
  state: path.join(dir, 'chain-state.json'),
  authority: path.join(dir, 'mint-authority.json'),
  adminToken: path.join(dir, 'admin-token'),
  server: path.join(dir, 'server.json'),
});

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function readState(dir: string): ChainStateFile | null {
  const file = stateFiles(dir).state;
  if (!existsSync(file)) return null;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as ChainStateFile;
  if (parsed.version !== 1 || typeof parsed.mint !== 'string') throw new Error(`${file}: unrecognised chain state`);
  return parsed;
}

export function writeState(dir: string, state: ChainStateFile): void {
  writeAtomic(stateFiles(dir).state, JSON.stringify(state), 0o600);
}

export function readKeypairFile(file: string): Uint8Array {
  const bytes = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(bytes) || bytes.length !== 64 || !bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new Error(`${file}: not a Solana keypair file (JSON array of 64 bytes)`);
  }
  return Uint8Array.from(bytes);
}

export function writeKeypairFile(file: string, bytes: Uint8Array): void {
  writeAtomic(file, JSON.stringify(Array.from(bytes)), 0o600);
}

export function readOrCreateAdminToken(dir: string): string {
  const file = stateFiles(dir).adminToken;
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(32).toString('hex');
  writeAtomic(file, token, 0o600);
  return token;
}

export function readAdminToken(dir: string): string | null {
  const file = stateFiles(dir).adminToken;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

export function writeServerInfo(dir: string, info: ServerInfo): void {
  writeAtomic(stateFiles(dir).server, JSON.stringify(info), 0o644);
}

export function readServerInfo(dir: string): ServerInfo | null {
  const file = stateFiles(dir).server;
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServerInfo;
  } catch {
    return null;
  }
}

export function removeServerInfo(dir: string, pid: number): void {
  const info = readServerInfo(dir);
  if (info && info.pid === pid) rmSync(stateFiles(dir).server, { force: true });
}
