#!/usr/bin/env node
// Drives Debian's Chromium (never a downloaded browser) through the gateway's /docs page:
//   node docs_page.mjs <base-url> <out-dir>
// <base-url> is where the API lives: http://127.0.0.1:8000 for an embedded gateway, or
// http://127.0.0.1:8000/agents/0x… for a standalone one. The page is opened at <base-url>/docs.
//
// Checks: name and address come from /info; a prompt streams in live (a partial answer is seen
// before the final one); a second prompt continues the session (turn 2); a key is created in the
// identity panel; two signed prompts over the authenticated WebSocket form (a new conversation,
// turns 1 and 2, since sessions belong to their caller) and a signed GET
// /sessions work; the page's WebCrypto signing matches WIRE.md §2.4; no horizontal scroll at
// phone width; opened from a non-secure origin (a host name other than localhost over plain
// http: no crypto.subtle), the identity panel says signing is unavailable and the chat still
// answers unsigned. Saves docs-desktop.png (1280×800), docs-phone.png (390×844) and
// docs-insecure.png (the non-secure origin, 1280×800) into <out-dir>.
// Exits 0 when all pass, 1 with a message naming the failed step otherwise (~60 s at most).
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TOTAL_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 15_000;
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const [baseArg, outArg] = process.argv.slice(2);
if (!baseArg || !outArg) {
  console.error("usage: node docs_page.mjs <base-url> <out-dir>");
  process.exit(2);
}
const BASE = baseArg.replace(/\/+$/, "");
const OUT = resolve(outArg);
const started = Date.now();
let step = "start";
const log = (msg) => console.log(`[docs_page ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const check = (cond, msg) => { if (!cond) throw new Error(msg); };

let context = null, userDataDir = null, insecure = null, insecureDir = null;
const pageErrors = [];

async function cleanup() {
  if (context) await context.close().catch(() => {});
  if (insecure) await insecure.close().catch(() => {});
  for (const dir of [userDataDir, insecureDir]) if (dir) rmSync(dir, { recursive: true, force: true });
}
const watchdog = setTimeout(async () => {
  console.error(`docs_page: FAILED at step "${step}": timed out after ${TOTAL_TIMEOUT_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

async function main() {
  check(existsSync(CHROMIUM), `${CHROMIUM} not found (apt-get install -y chromium)`);
  mkdirSync(OUT, { recursive: true });

  step = "GET /info";
  const infoRes = await fetch(`${BASE}/info`).catch((e) => {
    throw new Error(`GET ${BASE}/info: ${e.cause?.code || e.message} (is the gateway running?)`);
  });
  check(infoRes.ok, `GET ${BASE}/info answered ${infoRes.status}`);
  const info = await infoRes.json();
  check(typeof info.name === "string" && /^0x[0-9a-f]{64}$/.test(info.address), `unexpected /info: ${JSON.stringify(info).slice(0, 300)}`);
  log(`agent ${info.name} ${info.address}`);

  step = "launch chromium";
  userDataDir = mkdtempSync(join(tmpdir(), "agenthost-docs-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true,
    // A page fulfilled by the test (DOCS_PAGE_FILE) has no loopback origin of its own, so
    // Chromium's local-network-access checks would block its WebSocket to the gateway.
    args: process.env.DOCS_PAGE_FILE ? [...ARGS, "--disable-features=LocalNetworkAccessChecks"] : ARGS,
    viewport: { width: 1280, height: 800 }, timeout: STEP_TIMEOUT_MS,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = context.pages()[0] || (await context.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(`console: ${m.text()}`); });

  async function serveDocsFile(p) {
    if (!process.env.DOCS_PAGE_FILE) return;
    const html = readFileSync(process.env.DOCS_PAGE_FILE, "utf8");
    await p.route(/\/docs\/?$/, (route) => route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html }));
  }
  await serveDocsFile(page);
  if (process.env.DOCS_PAGE_FILE) log(`serving /docs from ${process.env.DOCS_PAGE_FILE}`);

  step = "open /docs";
  const res = await page.goto(`${BASE}/docs`, { waitUntil: "load" });
  check(res && res.ok(), `GET ${BASE}/docs answered ${res && res.status()}`);
  check(/text\/html/.test(res.headers()["content-type"] || ""), `/docs content-type is ${res.headers()["content-type"]}`);

  step = "agent name and address from /info";
  await page.waitForFunction((name) => document.querySelector("#agent-name")?.textContent === name, info.name);
  const shownAddress = await page.textContent("#agent-address");
  check(shownAddress === info.address, `#agent-address shows ${shownAddress}, /info says ${info.address}`);

  step = "WebSocket connects";
  await page.waitForSelector('#status[data-state="open"]');

  // Every text the running turn's answer shows, in order: proves the answer grows live.
  await page.evaluate(() => {
    window.__renders = [];
    new MutationObserver(() => {
      const a = document.querySelector("#answer-log .turn.running .answer");
      if (a) window.__renders.push(a.textContent);
    }).observe(document.querySelector("#answer-log"), { subtree: true, childList: true, characterData: true });
  });

  async function ask(prompt, doneCount) {
    await page.fill("#prompt", prompt);
    await page.click("#send");
    await page.waitForFunction((n) => {
      const log = document.querySelector("#answer-log");
      return log.querySelectorAll(".turn.done").length >= n || log.querySelector(".turn.error");
    }, doneCount);
    const err = await page.$eval("#answer-log", (l) => l.querySelector(".turn.error")?.innerText ?? null);
    check(err === null, `the turn failed: ${err}`);
    return page.$eval("#answer-log", (l, n) => {
      const t = l.querySelectorAll(".turn.done")[n - 1];
      return { answer: t.querySelector(".answer").textContent, turn: t.dataset.turn ?? null, meta: t.querySelector(".meta").textContent };
    }, doneCount);
  }

  step = "first prompt streams";
  const first = await ask("hello from chromium", 1);
  check(first.answer === "echo: hello from chromium", `first answer is ${JSON.stringify(first.answer)}`);
  const renders = await page.evaluate(() => window.__renders);
  const partials = renders.filter((r) => r.length > 0 && r.length < first.answer.length && first.answer.startsWith(r));
  check(partials.length > 0, `no partial answer was rendered before the final one (renders: ${JSON.stringify(renders)})`);
  log(`first answer ${JSON.stringify(first.answer)} after ${partials.length} partial render(s); ${first.meta}`);

  step = "second prompt continues the session";
  const second = await ask("and a second turn", 2);
  check(second.answer === "echo: and a second turn", `second answer is ${JSON.stringify(second.answer)}`);
  check(second.turn === "2", `second answer is turn ${second.turn}, want 2 (meta: ${second.meta})`);
  log(`second answer ${JSON.stringify(second.answer)}, turn ${second.turn}`);

  step = "page signing matches WIRE.md §2.4 in Chromium";
  const vector = await page.evaluate(async () => {
    const S = globalThis.AgentSigning;
    const id = await S.identityFromSeed(S.unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    const env = await id.envelope({ prompt: "hello", timestamp: 1700000000, to: "0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c" });
    return env.signature;
  });
  check(vector === "17ab05b87a55cb6c3d8886e7d93915af38431b8b8b725946596420b94814ce9118703e023e65b53cfd0b1e550087869f3826cddeaff0d225c1c08b03046a2500",
    `Chromium's WebCrypto signature of the POST /input vector is ${vector}`);

  step = "the identity panel offers WebCrypto signing";
  const noWebCrypto = await page.$eval("#no-webcrypto", (n) => (n.hidden ? null : n.textContent));
  check(noWebCrypto === null, `the identity panel says signing is unavailable: ${noWebCrypto}`);
  check(await page.isVisible("#create-key"), "no Create key button");
  check(!(await page.evaluate(() => "sha512" in globalThis.AgentSigning || "ed25519" in globalThis.AgentSigning)), "the page still exports hand-written crypto");

  step = "create a key";
  await page.click("#create-key");
  await page.waitForFunction(() => /^0x[0-9a-f]{64}$/.test(document.querySelector("#my-address")?.textContent || ""));
  const myAddress = await page.textContent("#my-address");
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("agenthost.identity.jwk") || "null"));
  check(stored && stored.kty === "OKP" && stored.crv === "Ed25519" && stored.d, "the key was not kept in localStorage as a JWK");
  check(stored.x && "0x" + Buffer.from(stored.x, "base64url").toString("hex") === myAddress, "the stored JWK's x is not the shown address");
  const backend = await page.textContent("#key-backend");
  check(backend === "WebCrypto Ed25519", `#key-backend shows ${JSON.stringify(backend)}`);
  log(`key ${myAddress} (${backend})`);

  step = "signed prompt over the authenticated WebSocket form";
  await page.check("#sign-toggle");
  await page.waitForFunction(() => {
    const s = document.querySelector("#status");
    return s.dataset.state === "error" || (s.dataset.state === "open" && /signed/.test(s.textContent));
  });
  const status = await page.textContent("#status");
  check(!/refused|failed/i.test(status), `signed CONNECT: ${status}`);
  // A new caller starts a new conversation (sessions belong to their caller): turns 1 and 2 again.
  const signed = await ask("signed hello", 3);
  check(signed.answer === "echo: signed hello", `signed answer is ${JSON.stringify(signed.answer)}`);
  check(signed.turn === "1", `the first signed prompt is turn ${signed.turn}, want 1 of a new conversation (meta: ${signed.meta})`);
  const signed2 = await ask("signed again", 4);
  check(signed2.answer === "echo: signed again", `second signed answer is ${JSON.stringify(signed2.answer)}`);
  check(signed2.turn === "2", `the second signed prompt is turn ${signed2.turn}, want 2 (meta: ${signed2.meta})`);
  log(`signed answers ${JSON.stringify(signed.answer)}, ${JSON.stringify(signed2.answer)}: turns ${signed.turn}, ${signed2.turn}`);

  step = "signed GET /sessions";
  await page.click("#sessions-refresh");
  await page.waitForFunction(() => document.querySelector("#sessions-error").textContent || document.querySelector("#sessions-list .sess"));
  const sessErr = await page.textContent("#sessions-error");
  check(!sessErr, `GET /sessions: ${sessErr}`);
  const sessions = await page.$$eval("#sessions-list .sess .sid", (n) => n.map((x) => x.textContent));
  log(`sessions listed: ${sessions.length}`);
  step = "session lookup";
  await page.click("#sessions-list .sess");
  await page.waitForFunction(() => document.querySelector("#lookup-error").textContent || document.querySelector("#lookup-out .st"));
  const lookErr = await page.textContent("#lookup-error");
  check(!lookErr, `GET /sessions/{id}: ${lookErr}`);

  step = "snippets use the page's origin and base";
  const snippets = await page.$$eval("#snippets pre", (n) => n.map((x) => x.textContent).join("\n"));
  for (const route of ["/input", "/sessions", "/health", "/info", "/openapi.json", "/ws"]) {
    const url = (route === "/ws" ? BASE.replace(/^http/, "ws") : BASE) + route;
    check(snippets.includes(url), `no snippet for ${url}`);
  }

  step = "desktop layout";
  const overflowDesktop = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflowDesktop <= 0, `horizontal overflow of ${overflowDesktop}px at 1280 wide`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(OUT, "docs-desktop.png"), fullPage: true });

  step = "phone layout";
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflowPhone = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflowPhone <= 0, `horizontal scroll of ${overflowPhone}px at phone width 390`);
  await page.screenshot({ path: join(OUT, "docs-phone.png"), fullPage: true });

  step = "no page errors";
  check(pageErrors.length === 0, `the page reported errors: ${pageErrors.join(" | ")}`);
  log(`saved ${join(OUT, "docs-desktop.png")} and ${join(OUT, "docs-phone.png")}`);

  // The same gateway under a made-up host name that Chromium resolves to the gateway's host:
  // plain http from a host other than localhost is not a secure context, so crypto.subtle is
  // missing and the page has no way to sign.
  step = "non-secure origin: signing unavailable, chat unsigned";
  const base = new URL(BASE);
  if (base.protocol !== "http:") { log(`skipped the non-secure origin check (${base.protocol} base)`); return; }
  const INSECURE_HOST = "insecure.agenthost.test";
  insecureDir = mkdtempSync(join(tmpdir(), "agenthost-docs-chromium-"));
  insecure = await chromium.launchPersistentContext(insecureDir, {
    executablePath: CHROMIUM, headless: true,
    args: [...ARGS, `--host-resolver-rules=MAP ${INSECURE_HOST} ${base.hostname}`, "--disable-features=LocalNetworkAccessChecks"],
    viewport: { width: 1280, height: 800 }, timeout: STEP_TIMEOUT_MS,
  });
  insecure.setDefaultTimeout(STEP_TIMEOUT_MS);
  const ipage = insecure.pages()[0] || (await insecure.newPage());
  const insecureErrors = [];
  ipage.on("pageerror", (e) => insecureErrors.push(String(e)));
  ipage.on("console", (m) => { if (m.type() === "error") insecureErrors.push(`console: ${m.text()}`); });
  await serveDocsFile(ipage);
  base.hostname = INSECURE_HOST;
  const insecureDocs = `${base.href.replace(/\/+$/, "")}/docs`;
  const ires = await ipage.goto(insecureDocs, { waitUntil: "load" });
  check(ires && ires.ok(), `GET ${insecureDocs} answered ${ires && ires.status()}`);
  const ctx = await ipage.evaluate(() => ({ secure: window.isSecureContext, subtle: !!(window.crypto && window.crypto.subtle) }));
  check(!ctx.secure && !ctx.subtle, `${insecureDocs} is unexpectedly a secure context (${JSON.stringify(ctx)})`);
  await ipage.waitForSelector("#no-webcrypto:not([hidden])");
  const why = await ipage.textContent("#no-webcrypto");
  check(/WebCrypto Ed25519/.test(why) && /secure context/.test(why) && /https or localhost/.test(why), `the identity panel says ${JSON.stringify(why)}`);
  check(!(await ipage.isVisible("#create-key")) && !(await ipage.isVisible("#import-key")), "Create key / Import are offered without WebCrypto Ed25519");
  await ipage.waitForSelector('#status[data-state="open"]');
  await ipage.fill("#prompt", "unsigned over plain http");
  await ipage.click("#send");
  await ipage.waitForFunction(() => document.querySelector("#answer-log .turn.done, #answer-log .turn.error"));
  const plain = await ipage.$eval("#answer-log", (l) => l.querySelector(".turn.error")?.innerText ?? l.querySelector(".turn.done .answer").textContent);
  check(plain === "echo: unsigned over plain http", `unsigned answer from the non-secure origin is ${JSON.stringify(plain)}`);
  await ipage.screenshot({ path: join(OUT, "docs-insecure.png") });
  check(insecureErrors.length === 0, `the page reported errors: ${insecureErrors.join(" | ")}`);
  log(`non-secure origin: "${why}"; unsigned answer ${JSON.stringify(plain)}; saved ${join(OUT, "docs-insecure.png")}`);
}

try {
  await main();
  clearTimeout(watchdog);
  await cleanup();
  log("all checks passed");
  process.exit(0);
} catch (e) {
  clearTimeout(watchdog);
  console.error(`docs_page: FAILED at step "${step}": ${e && e.message ? e.message : e}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join(" | ")}`);
  await cleanup();
  process.exit(1);
}
