/**
 * A node:test reporter that writes one JSON line per failed test (name, file, error message and the
 * first lines of its stack) to its destination. run-tests.ts passes it alongside the spec reporter and
 * reprints the lines after all suites, so the cause of a failure is in the last lines of a long CI log
 * instead of thousands of lines above it.
 */
export default async function* failureDigest(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const d = event.data;
    const err = d.details?.error;
    // Suites fail when a test inside them fails; only the tests themselves carry a useful cause.
    if (err?.failureType === 'subtestsFailed') continue;
    const cause = err?.cause ?? err;
    const message = String(cause?.message ?? cause ?? 'unknown error');
    // Where in our code it failed: the stack's frames, without node's own.
    const stack =
      typeof cause?.stack === 'string'
        ? cause.stack
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l.startsWith('at ') && !/\(node:|^at node:|\(<anonymous>\)/.test(l))
            .slice(0, 4)
        : [];
    yield `${JSON.stringify({ name: d.name, file: d.file, failureType: err?.failureType, message: message.slice(0, 4000), stack })}\n`;
  }
}
