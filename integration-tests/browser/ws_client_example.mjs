#!/usr/bin/env node
// Loads examples/js/ws_client.mjs as a module in Debian's headless Chromium and asks a running
// gateway one question with it:
//   node ws_client_example.mjs <base-url> <path of ws_client.mjs> <prompt>
// The page is opened on the gateway's own origin (its /health), so the module and its socket
// are same-origin loopback, as for a page the gateway serves; the module file is served to the
// browser at <base-url>/examples/ws_client.mjs by request interception (the gateway does not
// serve examples). Prints one JSON line {"chunks","events","result","session_id"}, exit 0;
// exit 1 with a message on failure (30 s at most).
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT_MS = 30_000;
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const [baseArg, modulePath, prompt] = process.argv.slice(2);
if (!baseArg || !modulePath || prompt === undefined) {
  console.error("usage: node ws_client_example.mjs <base-url> <ws_client.mjs> <prompt>");
  process.exit(2);
}
const BASE = baseArg.replace(/\/+$/, "");
const moduleUrl = `${BASE}/examples/ws_client.mjs`;
const wsUrl = `${BASE.replace(/^http/, "ws")}/ws`;

let browser = null;
const watchdog = setTimeout(async () => {
  console.error(`ws_client_example: timed out after ${TIMEOUT_MS / 1000} s`);
  await browser?.close().catch(() => {});
  process.exit(1);
}, TIMEOUT_MS);

try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  const source = readFileSync(modulePath, "utf8");
  await page.route(moduleUrl, (route) =>
    route.fulfill({ status: 200, contentType: "text/javascript; charset=utf-8", body: source }));
  const res = await page.goto(`${BASE}/health`);
  if (!res.ok()) throw new Error(`GET ${BASE}/health answered ${res.status()}`);
  const outcome = await page.evaluate(async ({ moduleUrl, wsUrl, prompt }) => {
    const { ask } = await import(moduleUrl);
    const chunks = [];
    const events = [];
    const output = await ask(wsUrl, prompt, {
      onChunk: (text) => chunks.push(text),
      onEvent: (frame) => events.push(frame),
    });
    return { chunks, events, result: output.result, session_id: output.session_id };
  }, { moduleUrl, wsUrl, prompt });
  if (pageErrors.length) throw new Error(`the page reported errors: ${pageErrors.join(" | ")}`);
  console.log(JSON.stringify(outcome));
  clearTimeout(watchdog);
  await browser.close();
  process.exit(0);
} catch (e) {
  clearTimeout(watchdog);
  console.error(`ws_client_example: FAILED: ${e && e.message ? e.message : e}`);
  await browser?.close().catch(() => {});
  process.exit(1);
}
