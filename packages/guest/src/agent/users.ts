import { readFileSync } from 'node:fs';

/** A resolved workload user. Supplementary groups are dropped (libuv clears them when it sets uid/gid). */
export interface UserInfo {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

/**
 * Resolves the manifest's `user` (a name from passwd, a numeric uid, or `uid:gid`) against the image's
 * own /etc/passwd, so it works for any distro without NSS.
 */
export function resolveUser(spec: string, passwdPath = '/etc/passwd'): UserInfo {
  let passwd = '';
  try {
    passwd = readFileSync(passwdPath, 'utf8');
  } catch {
    // distroless images may lack /etc/passwd: numeric users still work
  }
  const entries = passwd
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));

  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (numeric) {
    const uid = Number(numeric[1]);
    const known = entries.find((e) => e.uid === uid);
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : (known?.gid ?? uid);
    return { uid, gid, name: known?.name ?? String(uid), home: known?.home ?? '/' };
  }
  const byName = entries.find((e) => e.name === spec);
  if (!byName || !Number.isInteger(byName.uid) || !Number.isInteger(byName.gid)) {
    throw new Error(`workload user ${JSON.stringify(spec)} is not in ${passwdPath}`);
  }
  return byName;
}
