// Cross-check of vaspd's webhook signatures with independent implementations,
// driven by TestStandardWebhooksNPM (webhook/npm_test.go) through
// scripts/ci/standardwebhooks.sh:
//
//   node crosscheck.cjs <node_modules dir>   < request.json   > result.json
//
// For each message Go signed, it runs the npm standardwebhooks library's
// Webhook.verify (the v1 scheme) with each listed secret, Node's own crypto
// for X-UMAaas-Signature (hex HMAC-SHA256 of the body keyed with the secret
// string as issued) and for v1a (ed25519 with the whpk_ public key). Then it
// signs messages with Webhook.sign for Go to verify. It reports outcomes and
// never decides pass or fail itself: the Go test holds the expectations.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const fs = require("node:fs");

const modules = process.argv[2];
if (!modules) {
  console.error("usage: node crosscheck.cjs <node_modules dir>");
  process.exit(2);
}
const { Webhook } = require(path.join(modules, "standardwebhooks"));

const req = JSON.parse(fs.readFileSync(0, "utf8"));

function attempt(fn) {
  try {
    fn();
    return { ok: true };
  } catch (e) {
    return { ok: false, error: String((e && e.message) || e) };
  }
}

function umaaas(secret, body, header) {
  const want = crypto.createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.from(body, "utf8")).digest("hex");
  for (const got of header.split(" ")) {
    if (got.length === want.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
      return;
    }
  }
  throw new Error("no X-UMAaas-Signature value matches");
}

function v1a(publicKey, m) {
  const raw = Buffer.from(publicKey.replace(/^whpk_/, ""), "base64");
  const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  const content = Buffer.from(`${m.id}.${m.timestamp}.${m.body}`, "utf8");
  for (const entry of m.signature.split(" ")) {
    const [version, sig] = entry.split(",");
    if (version === "v1a" && crypto.verify(null, content, key, Buffer.from(sig, "base64"))) {
      return;
    }
  }
  throw new Error("no v1a signature verifies");
}

const verified = req.verify.map((m) => {
  const headers = {
    "webhook-id": m.id,
    "webhook-timestamp": m.timestamp,
    "webhook-signature": m.signature,
  };
  return {
    standard: m.secrets.map((s) => attempt(() => new Webhook(s).verify(m.body, headers))),
    umaaas: m.secrets.map((s) => attempt(() => umaaas(s, m.body, m.umaaas))),
    v1a: (m.publicKeys || []).map((k) => attempt(() => v1a(k, m))),
  };
});

const signed = req.sign.map((s) => {
  const at = new Date();
  return {
    id: s.id,
    timestamp: String(Math.floor(at.getTime() / 1000)),
    body: s.body,
    signature: new Webhook(s.secret).sign(s.id, at, s.body),
  };
});

process.stdout.write(JSON.stringify({ library: require(path.join(modules, "standardwebhooks", "package.json")).version, verified, signed }));
