/**
 * The `wshub.v1` wire format, in one place: tags, hello, payload encoding,
 * batches, rooms and presence, notices, frame decoding for each direction,
 * subprotocol lists, close codes and limits.
 * Web-standard code only, shared by the server (`src/server/`), the client
 * module (`src/client/`), the tests and the benchmarks. `docs/protocol.md`
 * is its specification.
 *
 * @module
 */

export {
  BINARY_TAG,
  MAX_TOKEN_LENGTH,
  PROTOCOL_VERSION,
  ROOM_BINARY_TAG,
  SUBPROTOCOL,
  SUBPROTOCOL_V2,
  Tag,
  TOKEN_PREFIX,
} from "./tags.ts";
export { utf8Length } from "./utf8.ts";
export {
  chooseSubprotocol,
  isCredential,
  isToken,
  parseSubprotocols,
  protocolToken,
} from "./subprotocols.ts";
export {
  encodePayload,
  framedOnly,
  Payload,
  type PayloadInit,
  payloadValue,
  roomPayload,
} from "./payload.ts";
export {
  encodeJoin,
  encodeJoined,
  encodeLeave,
  encodeLeft,
  encodePresence,
  encodePresenceAnswer,
  encodePresenceDiff,
  encodePresenceQuery,
  isRoomName,
  type JoinAnswer,
  type LeaveAnswer,
  MAX_ROOM_LENGTH,
  type PresenceAnswer,
  type PresenceDiff,
  type PresenceEvent,
  type PresenceMode,
  type PresenceQuery,
  type RoomMessage,
  roomNameProblem,
  type RoomRequest,
} from "./rooms.ts";
export { batchItem, encodeBatch, joinFrames, splitBatch } from "./batch.ts";
export {
  type CredentialNotice,
  encodeCredential,
  encodeCredentialNotice,
  MAX_CREDENTIAL_LENGTH,
} from "./credentials.ts";
export { encodeHello, type Hello, parseHello } from "./hello.ts";
export {
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  decodeServerFrameWith,
  encodePing,
  encodePong,
  readRoomAnswer,
  type RoomAnswerReader,
  type ServerFrame,
  skipRoomAnswer,
} from "./frames.ts";
export {
  type CloseNotice,
  encodeCloseNotice,
  encodeErrorNotice,
  type ErrorNotice,
} from "./notices.ts";
export {
  assertApplicationCloseCode,
  CLIENT_PROTOCOL_ERROR,
  CloseCode,
  closeReasonProblem,
  isApplicationCloseCode,
  isSendableCloseCode,
  MAX_REASON_BYTES,
  truncateReason,
} from "./close_codes.ts";
export {
  type AnswerFrame,
  decodeRequestFrame,
  DEFAULT_MAX_REQUESTS_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT,
  encodeAnswer,
  encodeFailure,
  encodeRequest,
  GENERIC_FAILURE_MESSAGE,
  isRequestId,
  MAX_REQUEST_ID,
  parseAnswer,
  parseRequest,
  RequestErrorCode,
  type RequestFailure,
  type RequestFrame,
} from "./requests.ts";
export {
  ConnectionClosedError,
  ReplyError,
  RequestError,
  RequestTimeoutError,
} from "./request_errors.ts";
