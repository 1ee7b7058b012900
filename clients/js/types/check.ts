// Compiled by `tsc -p types` (npm run lint): the declarations used as a user would.
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  connectWebSocket,
  createGrpcClient,
  createRestClient,
  protobufMessage,
  RaccoonError,
  type Ack,
  type AckEvent,
} from "./index.js";

export async function usage(): Promise<number> {
  const ws = await connectWebSocket("ws://127.0.0.1:8080/api/v1/events", {
    connId: "user-1",
    wireType: "json",
    retry: { maxAttempts: 3 },
    onAck: (e: AckEvent) => void e.reqGuid,
  });
  ws.on("ack", ({ ack, error }) => void (ack?.ok ?? error?.kind));
  const pending = ws.send([
    { type: "click", data: { x: 1 } },
    { type: "page", data: protobufMessage(TimestampSchema, create(TimestampSchema, { seconds: 1n })) },
  ]);
  const guid: string = pending.reqGuid;
  const ack: Ack = await pending;
  await ws.close(5000);
  const rest = createRestClient("http://127.0.0.1:8080/api/v1/events");
  try {
    await rest.send([{ type: "x", data: new Uint8Array([1]) }]);
  } catch (e) {
    if (e instanceof RaccoonError && e.kind === "bad_request") return e.httpStatus;
  }
  createGrpcClient("127.0.0.1:8081", { serialization: "json" });
  return guid.length + ack.attempts;
}
