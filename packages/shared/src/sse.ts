/**
 * Reads a server-sent event stream (text/event-stream) as `{ event, data }` per event: `event` is the
 * `event:` field ('message' when absent), `data` its `data:` lines joined by newlines. Comments (heartbeats),
 * `id:` and `retry:` are skipped, as is a block without data. Used by every client of Romulus's streams
 * (the gateway following a node, the SDK following an agent, the conformance suite).
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).replace(/^ /, '');
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}
