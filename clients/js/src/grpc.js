// gRPC (Node only): raystack.raccoon.v1beta1.EventService/SendEvent by
// @grpc/grpc-js, with the request and response (de)serialized by
// @bufbuild/protobuf. The server's EventService speaks protobuf only.
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ackFromMessage, WireType } from "./encoding.js";
import { ErrorKind, RaccoonError } from "./errors.js";
import { RaccoonClient, requestHeaders } from "./client.js";
import { GrpcStatus, retryableGrpcCode } from "./retry.js";
import {
  SendEventRequestSchema,
  SendEventResponseSchema,
} from "./gen/raystack/raccoon/v1beta1/raccoon_pb.js";

const METHOD = "/raystack.raccoon.v1beta1.EventService/SendEvent";

/**
 * A gRPC client of address (host:port). options.credentials: grpc
 * ChannelCredentials (insecure by default); options.channelOptions: grpc-js
 * channel options. wireType "json" is refused.
 */
export function createGrpcClient(address, options = {}) {
  if ((options.wireType ?? WireType.PROTOBUF) !== WireType.PROTOBUF) {
    throw new RaccoonError(
      ErrorKind.ENCODING,
      `gRPC carries protobuf only, not wire type ${options.wireType}`,
    );
  }
  return new RaccoonClient(options, (client) => new GrpcTransport(client, address));
}

class GrpcTransport {
  constructor(client, address) {
    this.client = client;
    const o = client.options;
    this.stub = new grpc.Client(
      address,
      o.credentials ?? grpc.credentials.createInsecure(),
      o.channelOptions ?? {},
    );
    this.metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(requestHeaders(o))) this.metadata.set(k.toLowerCase(), v);
  }

  start(p) {
    this.client.runAttempts(p, (pending, signal) => this.attempt(pending, signal));
  }

  attempt(p, signal) {
    return new Promise((resolve, reject) => {
      const call = this.stub.makeUnaryRequest(
        METHOD,
        (m) => Buffer.from(toBinary(SendEventRequestSchema, m)),
        (b) => fromBinary(SendEventResponseSchema, b),
        p.request.message,
        this.metadata,
        { deadline: Date.now() + this.client.options.attemptTimeoutMs },
        (err, resp) => {
          signal.removeEventListener("abort", cancel);
          if (err) {
            let kind = ErrorKind.BAD_REQUEST;
            if (err.code === GrpcStatus.UNAVAILABLE) kind = ErrorKind.TRANSPORT;
            else if (retryableGrpcCode(err.code)) kind = ErrorKind.SERVER;
            reject(
              new RaccoonError(kind, "", {
                grpcCode: err.code,
                reason: err.details ?? err.message,
                cause: err,
              }),
            );
            return;
          }
          const ack = ackFromMessage(resp);
          if (ack.reqGuid !== p.reqGuid) {
            this.client.logger.warn(`raccoon: gRPC ack names ${ack.reqGuid}, sent ${p.reqGuid}`);
          }
          resolve(ack);
        },
      );
      const cancel = () => call.cancel();
      signal.addEventListener("abort", cancel);
    });
  }

  forget() {}

  async close() {
    this.stub.close();
  }
}
