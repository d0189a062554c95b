/**
 * The inspector's actions, each through the hub's public API: close a
 * client, disconnect a user, take a client out of a room, publish a test
 * message to a room. Each takes a JSON body and answers an
 * {@linkcode ActionResult}.
 *
 * @module
 */

import { assertApplicationCloseCode, roomNameProblem } from "../protocol/mod.ts";
import type { Hub } from "../server/hub.ts";
import type { Inspection } from "../server/inspection.ts";
import type { ActionResult } from "./api.ts";

/** The close reasons the inspector gives. */
export const CLOSED_REASON = "closed from the inspector";

/** An action's answer: its status and its body. */
export interface Answer {
  status: number;
  body: ActionResult;
}

const failed = (status: number, error: string): Answer => ({ status, body: { ok: false, error } });

/** A string field of a JSON body, or `undefined`. */
function text(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Runs the action `name` with a parsed JSON body. */
export async function act(
  hub: Hub<unknown, unknown>,
  inspection: Inspection,
  name: string,
  body: Record<string, unknown>,
): Promise<Answer> {
  switch (name) {
    case "close": {
      const id = text(body, "id");
      if (id === undefined) return failed(400, "id is required");
      const code = body.code === undefined ? 1000 : body.code;
      if (typeof code !== "number") return failed(400, "code must be a number");
      try {
        assertApplicationCloseCode(code);
      } catch (error) {
        return failed(400, (error as Error).message);
      }
      const connection = inspection.find(id);
      if (connection === undefined) return failed(404, `no client ${id}`);
      connection.client.close(code, text(body, "reason") ?? CLOSED_REASON);
      return { status: 200, body: { ok: true, count: 1 } };
    }
    case "disconnect-user": {
      const user = text(body, "user");
      if (user === undefined) return failed(400, "user is required");
      // Every process's connections of the user (through the backplane), 4003: revoked, not
      // retried by the reference client. The count is this process's.
      const count = await hub.disconnectUser(user, { reason: CLOSED_REASON });
      return { status: 200, body: { ok: true, count } };
    }
    case "leave": {
      const id = text(body, "id");
      const room = text(body, "room");
      if (id === undefined || room === undefined) return failed(400, "id and room are required");
      const problem = roomNameProblem(room);
      if (problem !== undefined) return failed(400, problem);
      const connection = inspection.find(id);
      if (connection === undefined) return failed(404, `no client ${id}`);
      const left = await hub.leave(connection.client, room);
      return { status: 200, body: { ok: left, count: left ? 1 : 0 } };
    }
    case "publish": {
      const room = text(body, "room");
      if (room === undefined) return failed(400, "room is required");
      const problem = roomNameProblem(room);
      if (problem !== undefined) return failed(400, problem);
      if (typeof body.data !== "string") return failed(400, "data must be a string");
      let data: unknown = body.data;
      if (body.json === true) {
        try {
          data = JSON.parse(body.data);
        } catch {
          return failed(400, "data is not valid JSON");
        }
      }
      const count = await hub.publish(room, data);
      return { status: 200, body: { ok: true, count } };
    }
    default:
      return failed(404, `no action ${name}`);
  }
}
