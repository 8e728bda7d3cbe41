// A WebSocket client for an agent's `/ws` (docs/WIRE.md §4, simple form), written against the
// browser's WebSocket API: import it in a web page, or run it with Node from a terminal:
//
//   node --experimental-websocket examples/js/ws_client.mjs ws://127.0.0.1:8000/ws "hello"
//
// (Node 20 needs the flag for its WebSocket; Node 22 and later have it built in.) In a page:
//
//   import { ask } from "./ws_client.mjs";
//   const output = await ask("ws://127.0.0.1:8000/ws", "hello", { onChunk: (text) => show(text) });
//   // output.result is the answer; pass output.session back as `session` to continue.

/**
 * Sends one prompt and resolves with the OUTPUT frame (`result`, `session_id`, `session`...).
 * STREAM chunks go to `onChunk(content)` as they arrive, other events (`tool_call`,
 * `thinking`...) to `onEvent(frame)`. Rejects on an ERROR frame (the error carries its `code`)
 * or when the socket closes first.
 */
export function ask(url, prompt, { session, onChunk = () => {}, onEvent = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "INPUT", prompt, ...(session ? { session } : {}) }));
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      switch (frame.type) {
        case "PING": // keep-alive every 30 s
          socket.send(JSON.stringify({ type: "PONG" }));
          break;
        case "STREAM":
          onChunk(frame.content);
          break;
        case "OUTPUT": // the one terminal frame of a turn: done
          socket.close();
          resolve(frame);
          break;
        case "ERROR":
          socket.close();
          reject(Object.assign(new Error(frame.message), { code: frame.code }));
          break;
        default:
          onEvent(frame);
      }
    };
    // After OUTPUT or ERROR the promise is settled and these rejections change nothing.
    socket.onerror = () => reject(new Error(`cannot talk to ${url}`));
    socket.onclose = (event) => reject(new Error(`the socket closed before the answer (code ${event.code})`));
  });
}

// Run from a terminal (Node): print chunks as they come, events on stderr, then the result.
const runByNode =
  typeof process !== "undefined" &&
  process.argv?.[1] !== undefined &&
  import.meta.url === new URL(process.argv[1], "file://").href;

if (runByNode) {
  const [url, ...words] = process.argv.slice(2);
  if (!url || typeof WebSocket === "undefined") {
    console.error("usage: node --experimental-websocket ws_client.mjs ws://HOST:PORT/ws PROMPT...");
    process.exit(2);
  }
  let streamed = "";
  try {
    const output = await ask(url, words.join(" "), {
      onChunk: (text) => {
        streamed += text;
        process.stdout.write(text);
      },
      onEvent: (frame) => console.error(JSON.stringify(frame)),
    });
    // Agents that do not stream send their whole answer in OUTPUT only.
    if (output.result !== streamed) process.stdout.write((streamed ? "\n" : "") + output.result);
    process.stdout.write("\n");
  } catch (error) {
    console.error(`error: ${error.message}`);
    process.exitCode = 1;
  }
}
