// Example app behind hookguard, in Node with no framework.
//
// hookguard has already verified the provider's signature, dropped
// forgeries, replays and duplicates, and it signs every request it forwards
// with Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature) using the route's forward.signing_secret. This app
// checks that signature with the official npm package `standardwebhooks`,
// so only requests that came through hookguard are accepted, then reads
// the normalized X-Hookguard-* headers, the same for every provider.
//
// Environment:
//   LISTEN          address to listen on (default :9000)
//   FORWARD_SECRET  the route's forward.signing_secret (whsec_...)
//
// Logs one JSON line per event; answers 2xx JSON (Tencent's
// acknowledgement for Tencent callbacks); 401 when the forwarding
// signature does not verify.
"use strict";

const http = require("node:http");
const { Webhook, WebhookVerificationError } = require("standardwebhooks");

const MAX_BODY = 4 << 20;
// Tencent callbacks expect this answer. For "Before" callbacks ErrorCode
// decides (0 allow, 1 reject, 2 discard); hookguard returns it unchanged.
const TENCENT_ACK = '{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}';

function log(msg, fields) {
  console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));
}

function reply(res, status, body) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

// parseListen turns ":9000", "127.0.0.1:0" or "[::1]:9000" into host and port.
function parseListen(addr) {
  const i = addr.lastIndexOf(":");
  if (i < 0) throw new Error(`LISTEN ${JSON.stringify(addr)} is not host:port`);
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`LISTEN ${JSON.stringify(addr)}: bad port`);
  return { host: host || undefined, port };
}

function main() {
  const secret = process.env.FORWARD_SECRET || "";
  if (!secret.startsWith("whsec_") || secret.length === "whsec_".length) {
    console.error("node-backend: FORWARD_SECRET must be the route's forward.signing_secret (whsec_...)");
    process.exit(1);
  }
  let wh;
  try {
    wh = new Webhook(secret);
  } catch (err) {
    console.error("node-backend: FORWARD_SECRET is not whsec_ followed by base64");
    process.exit(1);
  }
  const { host, port } = parseListen(process.env.LISTEN || ":9000");

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("ok\n");
      return;
    }
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      reply(res, 405, { error: "POST only" });
      return;
    }
    // Keep the raw bytes: the signature covers them exactly.
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        tooLarge = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) {
        reply(res, 413, { error: "body too large" });
        return;
      }
      const body = Buffer.concat(chunks);
      const path = new URL(req.url, "http://backend").pathname;
      try {
        // Node gives header names in lower case, as the library expects.
        wh.verify(body, req.headers, { jsonParse: false });
      } catch (err) {
        if (!(err instanceof WebhookVerificationError)) throw err;
        log("rejected", { path, reason: err.message, remote: req.socket.remoteAddress });
        reply(res, 401, { error: "invalid forwarding signature" });
        return;
      }

      // The same headers for every provider.
      const h = req.headers;
      const ev = {
        provider: h["x-hookguard-provider"] || "",
        route: h["x-hookguard-route"] || "",
        event_id: h["x-hookguard-event-id"] || "",
        type: h["x-hookguard-event-type"] || "",
        event_time: h["x-hookguard-event-time"] || "",
        key_id: h["x-hookguard-key-id"] || "",
      };
      log("event", { ...ev, content_type: h["content-type"] || "", bytes: body.length });

      // Handle the event here. hookguard forwards an event again only if
      // this app did not answer 2xx: keep the handling idempotent on the
      // event id.

      if (ev.provider === "tencent") {
        reply(res, 200, TENCENT_ACK);
        return;
      }
      reply(res, 200, { ok: true, event_id: ev.event_id });
    });
  });
  server.requestTimeout = 30000;
  server.headersTimeout = 5000;

  server.listen(port, host, () => {
    const a = server.address();
    const addr = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    log("listening", { addr });
  });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      server.close(() => process.exit(0));
      server.closeIdleConnections();
    });
  }
}

main();
