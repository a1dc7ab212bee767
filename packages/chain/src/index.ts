export { startLocalChain, type LocalChainHandle, type StartLocalChainOptions, type TokenAmount } from './local-chain-server.ts';
export { LocalChain, TransactionRejected, BLOCKHASH_WINDOW } from './local-chain.ts';
export { createRpcServer, MAX_BODY_BYTES } from './server.ts';
export { RpcError } from './rpc-errors.ts';
export { TOKEN_PROGRAM, TOKEN_2022_PROGRAM, ASSOCIATED_TOKEN_PROGRAM } from './programs.ts';
export { formatUnits, parseUnits } from './token-layout.ts';
export { readKeypairFile, writeKeypairFile, stateFiles, readAdminToken } from './state-files.ts';
export { RemoteChain, ChainRpcError, type ChainRpcFailure } from './remote.ts';
