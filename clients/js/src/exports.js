// What both runtimes export.
export { WireType, Serialization, Status, Code, protobufMessage, serialize } from "./encoding.js";
export { ErrorKind, RaccoonError } from "./errors.js";
export { RaccoonClient } from "./client.js";
export { createRestClient } from "./rest.js";
export {
  defaultRetryPolicy,
  backoffCap,
  retryableHttpStatus,
  retryableGrpcCode,
  retryableAck,
  GrpcStatus,
} from "./retry.js";
export {
  SendEventRequestSchema,
  SendEventResponseSchema,
  EventSchema,
} from "./gen/raystack/raccoon/v1beta1/raccoon_pb.js";
// Messages of the schemas above (and the user's own) are made with protobuf-es.
export { create } from "@bufbuild/protobuf";
