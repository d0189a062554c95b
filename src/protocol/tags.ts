/**
 * The names and tags of the `wshub.v1` wire protocol (see `docs/protocol.md`):
 * the subprotocol, the credential prefix, the tag that opens every frame, and
 * the limits on control frames. Web-standard code only.
 *
 * @module
 */

/** The hub's WebSocket subprotocol, version 1: application texts travel as given. */
export const SUBPROTOCOL = "wshub.v1";

/**
 * Version 2 of the subprotocol: as version 1, but every application text
 * travels as JSON (a string value as a JSON string), so that the receiving
 * application gets the very value the sender gave. The reference client
 * offers it first; the hub prefers it.
 */
export const SUBPROTOCOL_V2 = "wshub.v2";

/** The version the hello announces (`v`) on a `wshub.v1` connection; `wshub.v2` announces 2. */
export const PROTOCOL_VERSION = 1;

/** The prefix of the subprotocol entry that carries a credential. */
export const TOKEN_PREFIX = "wshub.token.";

/**
 * The first character of every text frame, by name. Every application
 * payload travels behind a tag too, so a payload can never be taken for a
 * control frame.
 */
export const Tag = Object.freeze(
  {
    /** One application message (text, or binary with the byte 0x6d). Both directions. */
    Message: "m",
    /** Several text messages coalesced into one frame. Server to client. */
    Batch: "b",
    /** The hello: the first frame a server sends. Server to client. */
    Hello: "h",
    /** A ping; the receiver answers with a pong carrying the same token. Both directions. */
    Ping: "p",
    /** A pong. Both directions. */
    Pong: "P",
    /** An error notice: something the client sent was refused; the connection stays. Server to client. */
    Error: "e",
    /** A close notice: the code and reason of the close that follows. Server to client. */
    Close: "c",
    /**
     * Several tagged text frames coalesced into one, in order. Server to client; client to
     * server too when the hello announces `batch`.
     */
    Frames: "B",
    /** A request to join a room. Client to server. */
    Join: "j",
    /** The answer to a join. Server to client. */
    Joined: "J",
    /** A request to leave a room. Client to server. */
    Leave: "l",
    /** The answer to a leave. Server to client. */
    Left: "L",
    /** A message published to a room the client is in. Server to client. */
    Room: "r",
    /** A presence event: a user joined or left a room. Server to client. */
    Presence: "u",
    /**
     * A presence diff: the users who joined and left a room over one window.
     * Server to client, only to members that asked for diffs when they joined.
     */
    PresenceDiff: "U",
    /** The hub about a connection's credential: a fresh one is wanted, or how a refresh went. Server to client. */
    Credential: "t",
    /** A fresh credential, asked for or not. Client to server. */
    FreshCredential: "T",
    /** A presence query: who is in a room, or how many. Client to server. */
    Who: "w",
    /** The answer to a presence query. Server to client. */
    WhoAnswer: "W",
    /** A request that expects an answer. Both directions. */
    Request: "q",
    /** The answer to a request. Both directions. */
    Answer: "a",
  } as const,
);

/** One of the {@linkcode Tag} characters. */
export type Tag = typeof Tag[keyof typeof Tag];

/** The first byte of a binary application message on a framed connection ("m"). */
export const BINARY_TAG = 0x6d;

/** The first byte of a binary message published to a room ("r"). */
export const ROOM_BINARY_TAG = 0x72;

/** The longest ping or pong token, in UTF-16 code units. */
export const MAX_TOKEN_LENGTH = 32;
