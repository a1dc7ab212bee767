export { buildAgentBundle, buildInit, guestSourcesHash } from './build.ts';
