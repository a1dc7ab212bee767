/**
 * TCP reachability probes run inside a guest through the node's exec API, with the guest image's own Node
 * (the base image carries it for the guest agent).
 */
export const GUEST_NODE = '/opt/romulus/node/bin/node';

/** `node -e CONNECT_JS <ip> <port>` prints connected, refused, timeout (4 s) or `error <code>`. */
export const CONNECT_JS = `const s=require('net').connect(+process.argv[2],process.argv[1]);const t=setTimeout(()=>{console.log('timeout');process.exit(0)},4000);s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code==='ECONNREFUSED'?'refused':'error '+e.code);process.exit(0)});`;

/** The argv for the node's exec API. */
export function connectArgv(ip: string, port: number): string[] {
  return [GUEST_NODE, '-e', CONNECT_JS, ip, String(port)];
}
