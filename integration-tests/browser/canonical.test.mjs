// The /docs page's canonical JSON and ed25519 signing against the vectors of WIRE.md §1.1 and
// §2.4. The page signs only through WebCrypto Ed25519 (crypto.subtle), which Node (>= 20) has
// as globalThis.crypto, the same realm the page's block is loaded into.
// Run: node --test integration-tests/browser/canonical.test.mjs
import test from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { loadSigning, signingBlock } from "./signing_block.mjs";

const S = loadSigning();
const WIRE = readFileSync(fileURLToPath(new URL("../../docs/WIRE.md", import.meta.url)), "utf8");

const CLIENT_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const CLIENT_ADDRESS = "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const AGENT_SEED = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const AGENT = "0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const TS = 1700000000;

// Payloads are written with their keys out of order on purpose: the canonicalizer sorts them.
const VECTORS = [
  {
    name: "POST /input",
    payload: { to: AGENT, timestamp: TS, prompt: "hello" },
    canonical: `{"prompt":"hello","timestamp":1700000000,"to":"${AGENT}"}`,
    signature: "17ab05b87a55cb6c3d8886e7d93915af38431b8b8b725946596420b94814ce9118703e023e65b53cfd0b1e550087869f3826cddeaff0d225c1c08b03046a2500",
  },
  {
    name: "WS CONNECT",
    payload: { to: AGENT, timestamp: TS, signed_commands: 1 },
    canonical: `{"signed_commands":1,"timestamp":1700000000,"to":"${AGENT}"}`,
    signature: "2f6b0506285a5203967c45181634fa07bd305d71e43c5ce0a9ff893ee0bcadc0f21d771e161903de9bf1e44bc7ddbca06cfc29f33bdba918556bcb60426f2207",
  },
  {
    name: "WS INPUT command",
    payload: { type: "INPUT", prompt: "hello", to: AGENT, nonce: "22222222-2222-2222-2222-222222222222", timestamp: TS, input_id: "11111111-1111-1111-1111-111111111111" },
    canonical: `{"input_id":"11111111-1111-1111-1111-111111111111","nonce":"22222222-2222-2222-2222-222222222222","prompt":"hello","timestamp":1700000000,"to":"${AGENT}","type":"INPUT"}`,
    signature: "82c08a08634f28d814a5edc830dbd222127efee4b89af2f6b2ba5920d9da9eea07322ce033fd8c2e7167711b83d6edd3dbc235958bd1abcc9e35f426360b8503",
  },
  {
    name: "signed GET /sessions",
    payload: { timestamp: TS, path: "/sessions", method: "GET" },
    canonical: `{"method":"GET","path":"/sessions","timestamp":1700000000}`,
    signature: "aeb641c7ed892156c4233ff1c1b7114d440529959c30d41581a5cf9bd0bb7cf4b06b95eff99ad74d5d43b7b041766dac41d6dc882d71697cd5f381f44e85850d",
  },
  {
    name: "non-ASCII prompt, escaped form",
    ascii: true,
    payload: { to: AGENT, prompt: "你好 😀", timestamp: TS },
    canonical: `{"prompt":"\\u4f60\\u597d \\ud83d\\ude00","timestamp":1700000000,"to":"${AGENT}"}`,
    signature: "97feadb1995ca5ab6c37c01749efad50d8087b05a9440e254740280c09dc37eb01d53bab21172dd49ffe0eddaf6df03c07a5b2e7fe30f342f3b67cc3fd577706",
  },
  {
    name: "non-ASCII prompt, raw UTF-8 form (the page's default)",
    payload: { to: AGENT, prompt: "你好 😀", timestamp: TS },
    canonical: `{"prompt":"你好 😀","timestamp":1700000000,"to":"${AGENT}"}`,
    signature: "815bb6dcade5437a42f434d2ca491b8d5c8dc9d5b80f5c3d34585a98e09568031a52cb5b190b56ff3220e923291591dbe40506cffc23960d00029dcc29e6d00f",
  },
];

test("this Node has WebCrypto Ed25519, the page's only signer", async () => {
  assert.ok(globalThis.crypto && globalThis.crypto.subtle, "no globalThis.crypto.subtle");
  assert.equal(await S.webCryptoEd25519(), true);
});

test("no hand-written crypto in the page's signing block", () => {
  for (const gone of ["sha512", "ed25519"]) assert.equal(S[gone], undefined, `AgentSigning.${gone} is back`);
  const block = signingBlock();
  for (const sign of [/\bfunction sha512\b/, /\bpadd\b/, /\bpmul\b/, /0x428a2f98|K512/, /\bBigInt\b|\d+n\b/]) assert.doesNotMatch(block, sign);
});

test("the vectors here are the ones in WIRE.md", () => {
  for (const v of VECTORS) assert.ok(WIRE.includes(v.signature), `${v.name}: signature not found in WIRE.md`);
  assert.ok(WIRE.includes(CLIENT_ADDRESS) && WIRE.includes(AGENT));
});

test("canonical JSON of every WIRE.md §2.4 payload", () => {
  for (const v of VECTORS) assert.equal(S.canonicalJson(v.payload, { ascii: !!v.ascii }), v.canonical, v.name);
});

test("canonical JSON sorts nested keys by code point and writes no whitespace", () => {
  const value = { b: [3, { z: null, a: true }], a: { "\uffff": 1, "😀": 2, B: 3, a: 4 }, "é": "\n\"/" };
  // U+FFFF sorts before U+1F600 by code point (UTF-16 code units would put the emoji first).
  assert.equal(S.canonicalJson(value), '{"a":{"B":3,"a":4,"\uffff":1,"😀":2},"b":[3,{"a":true,"z":null}],"é":"\\n\\"/"}');
  assert.equal(S.canonicalJson({ "é": "ü" }, { ascii: true }), '{"\\u00e9":"\\u00fc"}');
  assert.equal(S.canonicalJson({ a: undefined, n: -1.5, i: 1700000000 }), '{"i":1700000000,"n":-1.5}');
  assert.throws(() => S.canonicalJson({ x: NaN }));
});

test("addresses of the WIRE.md §1.1 seeds (PKCS#8 import of the raw seed)", async () => {
  assert.equal((await S.identityFromSeed(S.unhex(CLIENT_SEED))).address, CLIENT_ADDRESS);
  assert.equal((await S.identityFromSeed(S.unhex(AGENT_SEED))).address, AGENT);
  await assert.rejects(S.identityFromSeed(new Uint8Array(31)), /32 bytes/);
});

test("signatures of the WIRE.md §2.4 vectors", async () => {
  const id = await S.identityFromSeed(S.unhex(CLIENT_SEED));
  assert.ok(id.cryptoKey instanceof CryptoKey, "the identity signs with a WebCrypto CryptoKey");
  for (const v of VECTORS) {
    const env = await id.envelope(v.payload, { ascii: !!v.ascii });
    assert.equal(env.from, CLIENT_ADDRESS, v.name);
    assert.equal(env.signature, v.signature, v.name);
    assert.deepEqual(env.payload, v.payload, v.name);
  }
});

test("a stored JWK signs the WIRE.md vectors, with or without x", async () => {
  const seedId = await S.identityFromSeed(S.unhex(CLIENT_SEED));
  const d = S.b64url(S.unhex(CLIENT_SEED)), x = S.b64url(S.unhex(CLIENT_ADDRESS));
  assert.deepEqual(seedId.jwk, { kty: "OKP", crv: "Ed25519", d, x });
  for (const jwk of [{ kty: "OKP", crv: "Ed25519", d, x }, { kty: "OKP", crv: "Ed25519", d }]) {
    const id = await S.identityFromJwk(jwk);
    assert.equal(id.address, CLIENT_ADDRESS);
    assert.equal((await id.envelope(VECTORS[0].payload)).signature, VECTORS[0].signature);
  }
  await assert.rejects(S.identityFromJwk({ kty: "OKP", crv: "Ed25519", d, x: S.b64url(S.unhex(AGENT)) }), /does not match/);
  await assert.rejects(S.identityFromJwk({ kty: "EC", crv: "P-256", d }), /not an Ed25519 private JWK/);
});

test("signed GET headers, short form", async () => {
  const id = await S.identityFromSeed(S.unhex(CLIENT_SEED));
  const g = await S.signedGet(id, "/sessions", TS);
  assert.deepEqual(g.headers, {
    "X-Co-From": CLIENT_ADDRESS,
    "X-Co-Signature": VECTORS[3].signature,
    "X-Co-Timestamp": "1700000000",
  });
});

test("a generated key signs what Node verifies, and survives its JWK", async () => {
  const id = await S.generateIdentity();
  assert.match(id.address, /^0x[0-9a-f]{64}$/);
  const msg = S.utf8(S.canonicalJson({ prompt: "ключ", timestamp: 1, to: AGENT }));
  const sig = await id.sign(msg);
  const pub = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: S.b64url(id.publicKey) }, format: "jwk" });
  assert.ok(nodeVerify(null, msg, pub, sig), "signature does not verify");
  const again = await S.identityFromJwk(JSON.parse(JSON.stringify(id.jwk)));
  assert.equal(again.address, id.address);
  assert.equal(S.hex(await again.sign(msg)), S.hex(sig));
});

test("without WebCrypto Ed25519 (no crypto.subtle, as on a plain-http origin) nothing signs", async () => {
  // The page's block in a realm with no crypto at all, like a non-secure browser context's
  // missing crypto.subtle: it still canonicalizes, but refuses to make or import keys.
  const sandbox = { TextEncoder, btoa, atob };
  sandbox.globalThis = sandbox;
  runInNewContext(signingBlock(), sandbox);
  const N = sandbox.AgentSigning;
  assert.equal(await N.webCryptoEd25519(), false);
  assert.equal(N.canonicalJson({ b: 1, a: 2 }), '{"a":2,"b":1}');
  for (const attempt of [N.generateIdentity(), N.identityFromSeed(S.unhex(CLIENT_SEED)), N.identityFromJwk({ kty: "OKP", crv: "Ed25519", d: S.b64url(S.unhex(CLIENT_SEED)) })]) {
    await assert.rejects(attempt, (e) => e.message === N.UNSUPPORTED && /WebCrypto Ed25519/.test(e.message) && /secure context/.test(e.message));
  }
});

test("fresh timestamps never repeat, so nonce-less signatures are never replays", () => {
  const a = S.freshTimestamp(), b = S.freshTimestamp();
  assert.ok(b > a);
  assert.ok(Math.abs(a - Date.now() / 1000) < 5);
});

test("uuid4 has the UUID v4 shape", () => {
  assert.match(S.uuid4(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
