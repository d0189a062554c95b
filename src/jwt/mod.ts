/**
 * `@wshub/hub/jwt`: the hub's `identify` and `refresh` hooks for JSON Web
 * Tokens, verified with [`jose`](https://github.com/panva/jose) (no
 * hand-written crypto). `sub` is the user and `exp` the expiry: the hub asks
 * the client for a fresh token before `exp` and closes the connection
 * (4004) if none came. The core module does not import `jose`.
 *
 * @example An HMAC secret; the browser client gets its tokens from `/token`
 * ```ts ignore
 * import { Hub } from "@wshub/hub";
 * import { createJwtAuth } from "@wshub/hub/jwt";
 *
 * const auth = createJwtAuth({
 *   key: new TextEncoder().encode(Deno.env.get("JWT_SECRET")),
 *   audience: "chat",
 *   issuer: "https://auth.example.com",
 * });
 * const hub = new Hub({ identify: auth.identify, refresh: auth.refresh });
 * Deno.serve((req) => hub.upgrade(req));
 * // browser: connect("/ws", { getToken: () => fetch("/token").then((r) => r.text()) })
 * ```
 *
 * @module
 */

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions,
} from "jose";
import { assertKnownOptions } from "../common/unknown_options.ts";

/**
 * The claims of a verified token, as the `user` option sees them.
 *
 * @example The user from a custom claim
 * ```ts
 * import { createJwtAuth, type JwtClaims } from "@wshub/hub/jwt";
 *
 * const userOf = (claims: JwtClaims) =>
 *   typeof claims.uid === "string" ? claims.uid : undefined;
 * const auth = createJwtAuth({ key: new TextEncoder().encode("a long random secret"), user: userOf });
 * console.log(typeof auth.verify);
 * ```
 */
export interface JwtClaims {
  /** The subject: the user, by default. */
  sub?: string;
  /** The expiry, in seconds since the epoch (always present once verified). */
  exp?: number;
  /** The audience. */
  aud?: string | string[];
  /** The issuer. */
  iss?: string;
  /** Any other claim. */
  [claim: string]: unknown;
}
import { protocolToken } from "../protocol/subprotocols.ts";
import type { ExpiringIdentity } from "../server/types.ts";

/**
 * Options of {@linkcode createJwtAuth}. Give exactly one of `key` and `jwks`.
 *
 * @example Keys from an identity provider's JWKS endpoint
 * ```ts
 * import { createJwtAuth, type JwtAuthOptions } from "@wshub/hub/jwt";
 *
 * const options: JwtAuthOptions = {
 *   jwks: new URL("https://auth.example.com/.well-known/jwks.json"),
 *   audience: "chat",
 *   issuer: "https://auth.example.com/",
 *   algorithms: ["RS256"],
 * };
 * const auth = createJwtAuth(options);
 * console.log(typeof auth.identify);
 * ```
 */
export interface JwtAuthOptions {
  /**
   * The key that verifies the tokens: an HMAC secret as bytes (HS256 and
   * the like), a public `CryptoKey`, or a public key as a JWK.
   */
  key?: Uint8Array | CryptoKey | JsonWebKey;
  /**
   * A JSON Web Key Set: a URL fetched (and cached, refetched when a token
   * names an unknown key) with `jose`'s `createRemoteJWKSet`, or the set
   * itself (`{ keys: [...] }`).
   */
  jwks?: URL | string | { keys: JsonWebKey[] };
  /** The `aud` a token must name (one of these). Default: not checked. */
  audience?: string | string[];
  /** The `iss` a token must name (one of these). Default: not checked. */
  issuer?: string | string[];
  /**
   * The signing algorithms accepted. Default: those the key allows; `none`
   * (unsigned tokens) is never accepted.
   */
  algorithms?: string[];
  /** Clock skew tolerated on `exp` and `nbf`, in milliseconds. Default 0. */
  clockTolerance?: number;
  /**
   * Where the token is at the upgrade. Default: the subprotocol credential
   * the client module sends (`protocolToken(req)`, from `token` or
   * `getToken`), else an `Authorization: Bearer` header.
   */
  tokenFrom?: (req: Request) => string | undefined;
  /** The user a verified token names. Default: its `sub` (no `sub`: anonymous). */
  user?: (claims: JwtClaims) => string | undefined;
  /**
   * Told why a token was refused (for logging; the client only ever sees a
   * bare 401 at the upgrade, or a refused refresh). Default: nothing.
   */
  onRefused?: (error: unknown) => void;
}

/**
 * What {@linkcode createJwtAuth} returns: hooks to pass to `new Hub()`, and
 * the verification they share.
 *
 * @example
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import { createJwtAuth, type JwtAuth } from "@wshub/hub/jwt";
 *
 * const auth: JwtAuth = createJwtAuth({ key: new TextEncoder().encode("a long random secret") });
 * const hub = new Hub({ identify: auth.identify, refresh: auth.refresh });
 * await hub.close();
 * ```
 */
export interface JwtAuth {
  /**
   * The `identify` hook: the identity a valid token proves
   * (`{ user: sub, expiresAt: exp * 1000 }`), or a 401 with no body for a
   * missing, malformed, wrongly signed, expired or otherwise invalid token.
   */
  identify(req: Request): Promise<ExpiringIdentity | Response>;
  /** The `refresh` hook: the identity a valid fresh token proves; rejects otherwise. */
  refresh(token: string): Promise<ExpiringIdentity>;
  /** Verifies one token: the identity it proves; rejects with `jose`'s error otherwise. */
  verify(token: string): Promise<ExpiringIdentity>;
}

const OPTION_NAMES = [
  "key",
  "jwks",
  "audience",
  "issuer",
  "algorithms",
  "clockTolerance",
  "tokenFrom",
  "user",
  "onRefused",
] as const satisfies readonly (keyof JwtAuthOptions)[];

/**
 * Builds `identify` and `refresh` for tokens signed with `key`, or with a
 * key of `jwks`. Tokens must carry `exp` (a credential that never expires
 * is refused); `alg: none` is never accepted.
 *
 * @param options See {@linkcode JwtAuthOptions}.
 * @returns The hooks.
 * @throws {TypeError} when neither or both of `key` and `jwks` are given, or on an unknown option.
 *
 * @example HS256 with an audience
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import { createJwtAuth } from "@wshub/hub/jwt";
 *
 * const auth = createJwtAuth({
 *   key: new TextEncoder().encode("a long random secret"),
 *   audience: "chat",
 * });
 * const hub = new Hub({ identify: auth.identify, refresh: auth.refresh });
 * await hub.close();
 * ```
 */
export function createJwtAuth(options: JwtAuthOptions): JwtAuth {
  assertKnownOptions("JWT option", options, OPTION_NAMES);
  if ((options.key === undefined) === (options.jwks === undefined)) {
    throw new TypeError(
      "createJwtAuth needs exactly one of key (a secret, a CryptoKey or a JWK) and jwks (a URL or a key set)",
    );
  }
  const clockTolerance = options.clockTolerance ?? 0;
  if (!(Number.isFinite(clockTolerance) && clockTolerance >= 0)) {
    throw new RangeError(`clockTolerance must be a number of ms >= 0, got ${clockTolerance}`);
  }
  const verifyWithKey = verifier(options);
  const userOf = options.user ?? ((claims: JwtClaims) => claims.sub);
  const tokenFrom = options.tokenFrom ?? defaultTokenFrom;
  const onRefused = options.onRefused ?? (() => {});

  const verify = async (token: string): Promise<ExpiringIdentity> => {
    const payload = await verifyWithKey(token, {
      audience: options.audience,
      issuer: options.issuer,
      algorithms: options.algorithms,
      clockTolerance: clockTolerance / 1000,
      requiredClaims: ["exp"],
    });
    const user = userOf(payload as JwtClaims);
    if (user !== undefined && typeof user !== "string") {
      throw new TypeError(`the user option returned a ${typeof user}, not a string`);
    }
    const expiresAt = payload.exp! * 1000;
    return user === undefined ? { expiresAt } : { user, expiresAt };
  };

  return {
    verify,
    async identify(req: Request): Promise<ExpiringIdentity | Response> {
      const token = tokenFrom(req);
      if (token === undefined || token === "") {
        onRefused(new Error("no token in the upgrade request"));
        return unauthorized();
      }
      try {
        return await verify(token);
      } catch (error) {
        onRefused(error);
        return unauthorized();
      }
    },
    async refresh(token: string): Promise<ExpiringIdentity> {
      try {
        return await verify(token);
      } catch (error) {
        onRefused(error);
        throw error;
      }
    },
  };
}

type Verifier = (token: string, options: JWTVerifyOptions) => Promise<JWTPayload>;

/** Verification with the key, or with the key set's key the token names. */
function verifier(options: JwtAuthOptions): Verifier {
  const jwks = options.jwks;
  if (jwks !== undefined) {
    const set = typeof jwks === "string" || jwks instanceof URL
      ? createRemoteJWKSet(new URL(jwks))
      : createLocalJWKSet(jwks as JSONWebKeySet);
    return async (token, verifyOptions) => (await jwtVerify(token, set, verifyOptions)).payload;
  }
  const key = options.key!;
  let imported: Promise<CryptoKey | Uint8Array> | undefined;
  const resolve = () => {
    if (key instanceof Uint8Array || isCryptoKey(key)) return key;
    return imported ??= importJWK(key as JWK, (key as JWK).alg);
  };
  return async (token, verifyOptions) =>
    (await jwtVerify(token, await resolve(), verifyOptions)).payload;
}

function isCryptoKey(key: unknown): key is CryptoKey {
  return typeof CryptoKey !== "undefined" && key instanceof CryptoKey;
}

function defaultTokenFrom(req: Request): string | undefined {
  const offered = protocolToken(req);
  if (offered !== undefined) return offered;
  const header = req.headers.get("authorization");
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1];
}

/** A bare 401: no detail on why, for the one who sent the token. */
function unauthorized(): Response {
  return new Response(null, { status: 401 });
}
