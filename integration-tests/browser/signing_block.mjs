// Loads the signing code of the /docs page (the `<script id="agenthost-signing">` block of
// http-gateway/assets/docs.html) into this Node process, so tests check the page's own code.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const DOCS_HTML = fileURLToPath(new URL("../../http-gateway/assets/docs.html", import.meta.url));

// The JavaScript source of the block.
export function signingBlock(path = DOCS_HTML) {
  const html = readFileSync(path, "utf8");
  const m = html.match(/<script id="agenthost-signing">([\s\S]*?)<\/script>/);
  if (!m) throw new Error(`no <script id="agenthost-signing"> block in ${path}`);
  return m[1];
}

export function loadSigning(path = DOCS_HTML) {
  // Same realm as the test (typed arrays, crypto, btoa/atob are Node's globals).
  new Function(signingBlock(path))();
  const S = globalThis.AgentSigning;
  if (!S) throw new Error("the signing block did not define globalThis.AgentSigning");
  return S;
}
