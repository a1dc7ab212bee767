export { run, buildProgram } from './program.ts';
export { EXIT, CliError, type CliIo } from './io.ts';
