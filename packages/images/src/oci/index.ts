export { importOciImage, type ImportRequest, type ImportResult } from './import.ts';
export { resolveImage, OciFormatError, type ResolvedImage, type OciImageConfig } from './resolve.ts';
export { flattenLayers, applyLayer } from './flatten.ts';
export { manifestFromConfig, exposedTcpPorts, parseEnv } from './image-manifest.ts';
export { importCommand } from './cli.ts';
