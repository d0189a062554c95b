// @wshub/hub/jwt: identify and refresh built on jose, over real sockets and
// real tokens (signed here with jose): valid, expired, wrong key, wrong
// audience or issuer, alg "none", garbage; a JWKS served on 127.0.0.1; and a
// client refreshing its JWT in-band.

import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { createJwtAuth } from "../src/jwt/mod.ts";
import { connect } from "../src/client/mod.ts";
import { nextEvent, serveHub, until } from "./_helpers.ts";

const secret = new TextEncoder().encode("a secret of at least thirty-two bytes!!");
const otherSecret = new TextEncoder().encode("another secret, also thirty-two bytes");

function sign(
  claims: { sub?: string; aud?: string; iss?: string; exp?: number },
  key: Uint8Array = secret,
): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" });
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.aud !== undefined) jwt.setAudience(claims.aud);
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(key);
}

const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

/** An upgrade request offering `token` the way the client module does. */
function upgradeRequest(token: string | undefined, headers: Record<string, string> = {}): Request {
  return new Request("http://127.0.0.1/ws", {
    headers: {
      "sec-websocket-protocol": token === undefined ? "wshub.v2" : `wshub.v2, wshub.token.${token}`,
      ...headers,
    },
  });
}

Deno.test("identify: a valid token proves { user: sub, expiresAt: exp in ms }", async () => {
  const auth = createJwtAuth({ key: secret, audience: "chat", issuer: "https://auth.test" });
  const exp = inAMinute();
  const token = await sign({ sub: "alice", aud: "chat", iss: "https://auth.test", exp });
  assert.deepEqual(await auth.identify(upgradeRequest(token)), {
    user: "alice",
    expiresAt: exp * 1000,
  });
  // Also from an Authorization header (server-to-server clients).
  assert.deepEqual(
    await auth.identify(upgradeRequest(undefined, { authorization: `Bearer ${token}` })),
    { user: "alice", expiresAt: exp * 1000 },
  );
  // No sub: an anonymous but expiring connection.
  const anonymous = await sign({ aud: "chat", iss: "https://auth.test", exp });
  assert.deepEqual(await auth.identify(upgradeRequest(anonymous)), { expiresAt: exp * 1000 });
});

Deno.test("identify: expired, wrong key, wrong audience or issuer, alg none, no exp, garbage, none at all → a bare 401", async () => {
  const refused: unknown[] = [];
  const auth = createJwtAuth({
    key: secret,
    audience: "chat",
    issuer: "https://auth.test",
    onRefused: (error) => refused.push(error),
  });
  const good = { sub: "alice", aud: "chat", iss: "https://auth.test" };
  const cases: [string, string | undefined][] = [
    ["expired", await sign({ ...good, exp: Math.floor(Date.now() / 1000) - 5 })],
    ["wrong key", await sign({ ...good, exp: inAMinute() }, otherSecret)],
    ["wrong audience", await sign({ ...good, aud: "billing", exp: inAMinute() })],
    ["wrong issuer", await sign({ ...good, iss: "https://evil.test", exp: inAMinute() })],
    ["alg none", new UnsecuredJWT({ ...good, exp: inAMinute() }).encode()],
    ["no exp", await sign(good)],
    ["garbage", "not.a.jwt"],
    ["nothing", undefined],
  ];
  for (const [what, token] of cases) {
    const answer = await auth.identify(upgradeRequest(token));
    assert.ok(answer instanceof Response, `${what}: refused`);
    assert.equal(answer.status, 401, what);
    assert.equal(await answer.text(), "", `${what}: no detail leaked`);
  }
  assert.equal(refused.length, cases.length, "each refusal is told to onRefused");
  const names = refused.map((error) => (error as { code?: string }).code);
  assert.deepEqual(names.slice(0, 6), [
    "ERR_JWT_EXPIRED",
    "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    "ERR_JWT_CLAIM_VALIDATION_FAILED",
    "ERR_JWT_CLAIM_VALIDATION_FAILED",
    "ERR_JOSE_NOT_SUPPORTED", // jose refuses unsecured JWTs outright
    "ERR_JWT_CLAIM_VALIDATION_FAILED",
  ]);
});

Deno.test("refresh: accepts a valid fresh token, rejects an invalid one with jose's error", async () => {
  const auth = createJwtAuth({ key: secret });
  const exp = inAMinute();
  assert.deepEqual(await auth.refresh(await sign({ sub: "bob", exp })), {
    user: "bob",
    expiresAt: exp * 1000,
  });
  const forged = await sign({ sub: "bob", exp }, otherSecret);
  await assert.rejects(() => auth.refresh(forged), {
    code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  });
  await assert.rejects(() => auth.refresh("garbage"), { code: "ERR_JWS_INVALID" });
});

Deno.test("RS256 with a JWK, and a JWKS: local, and fetched from a URL on 127.0.0.1", async () => {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), alg: "RS256", kid: "k1" };
  const exp = inAMinute();
  const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" })
    .setSubject("carol").setExpirationTime(exp).sign(privateKey);
  const expected = { user: "carol", expiresAt: exp * 1000 };

  assert.deepEqual(await createJwtAuth({ key: jwk }).verify(token), expected);
  assert.deepEqual(await createJwtAuth({ key: publicKey }).verify(token), expected);
  assert.deepEqual(await createJwtAuth({ jwks: { keys: [jwk] } }).verify(token), expected);

  let fetched = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    fetched++;
    return Response.json({ keys: [jwk] });
  });
  try {
    const auth = createJwtAuth({ jwks: `http://127.0.0.1:${server.addr.port}/jwks.json` });
    assert.deepEqual(await auth.verify(token), expected);
    assert.deepEqual(await auth.verify(token), expected);
    assert.equal(fetched, 1, "the key set is cached");
    // An HMAC token against an RSA key set: refused, not confused.
    const hmac = await sign({ sub: "carol", exp });
    await assert.rejects(() => auth.verify(hmac), { code: "ERR_JOSE_NOT_SUPPORTED" });
  } finally {
    await server.shutdown();
  }
});

Deno.test("createJwtAuth: exactly one of key and jwks; unknown options name the closest", () => {
  assert.throws(() => createJwtAuth({}), /exactly one of key .* and jwks/);
  assert.throws(() => createJwtAuth({ key: secret, jwks: { keys: [] } }), /exactly one/);
  assert.throws(
    () => createJwtAuth({ key: secret, audiance: "chat" } as never),
    /audiance.*audience/s,
  );
  assert.throws(() => createJwtAuth({ key: secret, clockTolerance: -1 }), RangeError);
});

Deno.test("end to end: a browser-style client with getToken keeps one connection while its JWTs expire", async () => {
  const auth = createJwtAuth({ key: secret, audience: "chat" });
  const served = serveHub({
    identify: auth.identify,
    refresh: auth.refresh,
    pingInterval: 400,
    pongTimeout: 400,
    expiredCloseDelay: 500,
  });
  let issued = 0;
  // JWT exp has a one-second resolution: tokens for 2 s, asked for 2/3 in.
  const client = connect(served.url, {
    getToken: () => {
      issued++;
      return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("dana")
        .setAudience("chat").setExpirationTime(Math.floor(Date.now() / 1000) + 2).sign(secret);
    },
  });
  try {
    const hello = await nextEvent(client, "open");
    assert.equal(hello.user, "dana");
    let refreshes = 0;
    client.on("refresh", () => refreshes++);
    await until(() => refreshes >= 3, 10_000, "three JWT refreshes");
    assert.equal(client.hello!.id, hello.id, "the same connection");
    assert.equal(issued, refreshes + 1);
    assert.equal(served.hub.stats().credentials.refused, 0);
  } finally {
    await client.close();
    await served.close();
  }
});
