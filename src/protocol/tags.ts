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

/** One application message (text, or binary with the byte 0x6d). Both directions. */
export const TAG_MESSAGE = "m";
/** Several text messages coalesced into one frame. Server to client. */
export const TAG_BATCH = "b";
/** The hello: the first frame a server sends. Server to client. */
export const TAG_HELLO = "h";
/** A ping; the receiver answers with a pong carrying the same token. Both directions. */
export const TAG_PING = "p";
/** A pong. Both directions. */
export const TAG_PONG = "P";
/** An error notice: something the client sent was refused; the connection stays. Server to client. */
export const TAG_ERROR = "e";
/** A close notice: the code and reason of the close that follows. Server to client. */
export const TAG_CLOSE = "c";
/**
 * Several tagged text frames coalesced into one, in order. Server to client;
 * client to server too when the hello announces `batch`.
 */
export const TAG_FRAMES = "B";
/** A request to join a room. Client to server. */
export const TAG_JOIN = "j";
/** The answer to a join. Server to client. */
export const TAG_JOINED = "J";
/** A request to leave a room. Client to server. */
export const TAG_LEAVE = "l";
/** The answer to a leave. Server to client. */
export const TAG_LEFT = "L";
/** A message published to a room the client is in. Server to client. */
export const TAG_ROOM = "r";
/** A presence event: a user joined or left a room. Server to client. */
export const TAG_PRESENCE = "u";
/**
 * A presence diff: the users who joined and left a room over one window.
 * Server to client, only to members that asked for diffs when they joined.
 */
export const TAG_PRESENCE_DIFF = "U";
/** The hub about a connection's credential: a fresh one is wanted, or how a refresh went. Server to client. */
export const TAG_CREDENTIAL = "t";
/** A fresh credential, asked for or not. Client to server. */
export const TAG_FRESH_CREDENTIAL = "T";
/** A presence query: who is in a room, or how many. Client to server. */
export const TAG_WHO = "w";
/** The answer to a presence query. Server to client. */
export const TAG_WHO_ANSWER = "W";
/** A request that expects an answer. Both directions. */
export const TAG_REQUEST = "q";
/** The answer to a request. Both directions. */
export const TAG_ANSWER = "a";

/**
 * The first character of every text frame, by name (each tag is also a
 * constant of its own, above: what the client's code uses, so that a
 * browser bundle holds the tags it needs and not this object). Every application
 * payload travels behind a tag too, so a payload can never be taken for a
 * control frame.
 */
export const Tag = /* @__PURE__ */ Object.freeze(
  {
    Message: TAG_MESSAGE,
    Batch: TAG_BATCH,
    Hello: TAG_HELLO,
    Ping: TAG_PING,
    Pong: TAG_PONG,
    Error: TAG_ERROR,
    Close: TAG_CLOSE,
    Frames: TAG_FRAMES,
    Join: TAG_JOIN,
    Joined: TAG_JOINED,
    Leave: TAG_LEAVE,
    Left: TAG_LEFT,
    Room: TAG_ROOM,
    Presence: TAG_PRESENCE,
    PresenceDiff: TAG_PRESENCE_DIFF,
    Credential: TAG_CREDENTIAL,
    FreshCredential: TAG_FRESH_CREDENTIAL,
    Who: TAG_WHO,
    WhoAnswer: TAG_WHO_ANSWER,
    Request: TAG_REQUEST,
    Answer: TAG_ANSWER,
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
