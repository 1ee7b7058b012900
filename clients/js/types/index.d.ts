// Types of @raccoon/client (Node and browsers; createGrpcClient works in Node only).
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";

export {
  SendEventRequestSchema,
  SendEventResponseSchema,
  EventSchema,
} from "../src/gen/raystack/raccoon/v1beta1/raccoon_pb.js";

export declare const WireType: { readonly PROTOBUF: "protobuf"; readonly JSON: "json" };
export type WireType = "protobuf" | "json";
export declare const Serialization: { readonly PROTOBUF: "protobuf"; readonly JSON: "json" };
export type Serialization = "protobuf" | "json";

export declare const Status: { readonly UNSPECIFIED: 0; readonly SUCCESS: 1; readonly ERROR: 2 };
export declare const Code: {
  readonly UNSPECIFIED: 0;
  readonly OK: 1;
  readonly BAD_REQUEST: 2;
  readonly INTERNAL_ERROR: 3;
  readonly MAX_CONNECTION_LIMIT_REACHED: 4;
  readonly MAX_USER_LIMIT_REACHED: 5;
};

export declare const ErrorKind: {
  readonly BAD_REQUEST: "bad_request";
  readonly SERVER: "server";
  readonly TRANSPORT: "transport";
  readonly REFUSED: "refused";
  readonly TIMEOUT: "timeout";
  readonly CLOSED: "closed";
  readonly ENCODING: "encoding";
};
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** A protobuf-es message marked with its schema. */
export interface ProtobufMessage {
  readonly schema: DescMessage;
  readonly message: unknown;
}
export declare function protobufMessage<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): ProtobufMessage;

/**
 * Event data: bytes (sent as given), a protobuf message (binary or canonical
 * JSON by the serialization), or any JSON value (serialization "json").
 */
export type EventData = Uint8Array | ArrayBuffer | ProtobufMessage | unknown;
export interface Event {
  type: string;
  data: EventData;
}
export declare function serialize(data: EventData, serialization: Serialization): Uint8Array;

export interface Ack {
  readonly reqGuid: string;
  readonly status: number;
  readonly code: number;
  /** The server's sent_time (unix seconds). */
  readonly sentTime: number;
  readonly reason: string;
  readonly data: Record<string, string>;
  /** How many times the request was sent. */
  readonly attempts: number;
  /** STATUS_SUCCESS with CODE_OK. */
  readonly ok: boolean;
}

export declare class RaccoonError extends Error {
  constructor(kind: ErrorKind, message: string, details?: Partial<RaccoonErrorDetails>);
  readonly kind: ErrorKind;
  readonly reqGuid: string;
  readonly attempts: number;
  /** HTTP status of the last attempt (REST, or a refused WebSocket upgrade), else 0. */
  readonly httpStatus: number;
  /** gRPC status code of the last attempt, else null. */
  readonly grpcCode: number | null;
  /** The ack's code (SendEventResponse.code), else 0. */
  readonly code: number;
  /** The server's reason. */
  readonly reason: string;
  /** A retry was due but the client's retry budget was empty. */
  readonly budgetExhausted: boolean;
}
interface RaccoonErrorDetails {
  reqGuid: string;
  attempts: number;
  httpStatus: number;
  grpcCode: number;
  code: number;
  reason: string;
  budgetExhausted: boolean;
  cause: unknown;
}

export interface RetryPolicy {
  /** Counts the first attempt: 1 disables retries. Default 5. */
  maxAttempts: number;
  /** Before attempt n (n >= 2): uniformly random in [0, min(maxBackoffMs, initialBackoffMs * multiplier^(n-2))]. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  /** The retry budget: a token bucket, full at start; 0 disables it. Default 100. */
  budgetCapacity: number;
  /** Tokens a retry takes (default 5); after a timed-out attempt timeoutCost (default 10). */
  retryCost: number;
  timeoutCost: number;
}
export declare function defaultRetryPolicy(): RetryPolicy;
export declare function backoffCap(policy: RetryPolicy, attempt: number): number;
export declare function retryableHttpStatus(status: number): boolean;
export declare function retryableGrpcCode(code: number): boolean;
export declare function retryableAck(ack: Pick<Ack, "status" | "code">): boolean;
export declare const GrpcStatus: {
  readonly INVALID_ARGUMENT: 3;
  readonly DEADLINE_EXCEEDED: 4;
  readonly RESOURCE_EXHAUSTED: 8;
  readonly UNAVAILABLE: 14;
};

export interface AckEvent {
  reqGuid: string;
  /** The ack of a batch the server took, or null. */
  ack: Ack | null;
  /** Why the send failed, or null. */
  error: RaccoonError | null;
}

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface ClientOptions {
  /** Extra headers (gRPC: metadata, lower-cased). Not sent by a browser's WebSocket. */
  headers?: Record<string, string>;
  /** The connection id, sent in connIdHeader (default X-User-ID). */
  connId?: string;
  connIdHeader?: string;
  /** The connection group, sent in connGroupHeader (default X-User-Group). */
  connGroup?: string;
  connGroupHeader?: string;
  /** Default "protobuf". gRPC carries protobuf only. */
  wireType?: WireType;
  /** Default "protobuf". */
  serialization?: Serialization;
  /** Bound on one send, all attempts and backoffs included. Default 30000. */
  sendTimeoutMs?: number;
  /** Bound on one attempt. Default 10000. */
  attemptTimeoutMs?: number;
  /** Bound on one WebSocket handshake. Default 10000. */
  dialTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** WebSocket reconnects in a row: default 60; 0 never; -1 without end. */
  maxReconnects?: number;
  /** Sends waiting at once (the reconnect buffer). Default 10000. */
  maxPending?: number;
  logger?: Logger;
  onAck?: (event: AckEvent) => void;
  onDisconnect?: (error: RaccoonError) => void;
  onReconnect?: () => void;
  /** REST: replaces the global fetch. */
  fetch?: typeof fetch;
  /** gRPC (Node): channel credentials, insecure by default. */
  credentials?: ChannelCredentials;
  /** gRPC (Node): @grpc/grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

/** A send in flight: a promise of its ack, with its req_guid known at once. */
export interface PendingSend extends Promise<Ack> {
  readonly reqGuid: string;
}

export interface SendOptions {
  /** The request's req_guid; a random UUID v4 by default. */
  reqGuid?: string;
}

export declare class RaccoonClient {
  /** Sends one batch; resolves to its ack or rejects with a RaccoonError. */
  send(events: Event[], options?: SendOptions): PendingSend;
  /** Waits until every send made before it finished; rejects after timeoutMs (default 10000). */
  flush(timeoutMs?: number): Promise<void>;
  /** Refuses new sends, flushes up to timeoutMs, fails the rest with a closed error, closes the connection. */
  close(timeoutMs?: number): Promise<void>;
  readonly pendingCount: number;
  on(event: "ack", listener: (event: AckEvent) => void): this;
  on(event: "disconnect", listener: (error: RaccoonError) => void): this;
  on(event: "reconnect", listener: () => void): this;
  off(event: "ack" | "disconnect" | "reconnect", listener: (...args: never[]) => void): this;
  once(event: "ack", listener: (event: AckEvent) => void): this;
  once(event: "disconnect", listener: (error: RaccoonError) => void): this;
  once(event: "reconnect", listener: () => void): this;
}

/** Connects to ws://host:port/api/v1/events; resolves once the connection is up. */
export declare function connectWebSocket(url: string, options?: ClientOptions): Promise<RaccoonClient>;
/** A client that POSTs each batch to http://host:port/api/v1/events. */
export declare function createRestClient(url: string, options?: ClientOptions): RaccoonClient;
/** A gRPC client of host:port (Node only; a browser build throws). */
export declare function createGrpcClient(address: string, options?: ClientOptions): RaccoonClient;
