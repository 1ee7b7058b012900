package io.raccoon.client;

/** The one exception of the client (clients/README.md, section 6). */
public class RaccoonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why a send failed. */
    public enum Kind {
        /** REST 4xx (not 429), gRPC INVALID_ARGUMENT and other non-retryable codes, an ack with CODE_BAD_REQUEST. Not retried. */
        BAD_REQUEST,
        /** A retryable server failure (5xx, 429, CODE_INTERNAL_ERROR, gRPC RESOURCE_EXHAUSTED...) left after the last attempt. */
        SERVER,
        /** A connection failure left after the last attempt. */
        TRANSPORT,
        /** The WebSocket was refused at the upgrade (code 4 or 5, or an HTTP 4xx). Not retried. */
        REFUSED,
        /** The send timeout passed. */
        TIMEOUT,
        /** The client was closed before the ack. */
        CLOSED,
        /** The data cannot be serialized as asked, or the options do not go together. */
        ENCODING
    }

    private final Kind kind;
    private final String detail;
    private volatile String reqGuid;
    private volatile int attempts;
    private final int httpStatus;
    private final String grpcCode;
    private final int code;
    private final String reason;
    private volatile boolean budgetExhausted;
    /** The attempt ran out of its attempt timeout (a retry costs timeoutCost). */
    volatile boolean attemptTimedOut;

    public RaccoonException(Kind kind, String detail) {
        this(kind, detail, "", 0, 0, null, 0, "", null);
    }

    RaccoonException(Kind kind, String detail, String reqGuid, int attempts, int httpStatus, String grpcCode, int code,
            String reason, Throwable cause) {
        super(detail, cause);
        this.kind = kind;
        this.detail = detail == null ? "" : detail;
        this.reqGuid = reqGuid == null ? "" : reqGuid;
        this.attempts = attempts;
        this.httpStatus = httpStatus;
        this.grpcCode = grpcCode;
        this.code = code;
        this.reason = reason == null ? "" : reason;
    }

    static Builder of(Kind kind) {
        return new Builder(kind);
    }

    /** Builds an exception field by field. */
    static final class Builder {
        private final Kind kind;
        private String detail = "";
        private int httpStatus;
        private String grpcCode;
        private int code;
        private String reason = "";
        private Throwable cause;

        Builder(Kind kind) {
            this.kind = kind;
        }

        Builder detail(String d) {
            detail = d;
            return this;
        }

        Builder httpStatus(int s) {
            httpStatus = s;
            return this;
        }

        Builder grpcCode(String c) {
            grpcCode = c;
            return this;
        }

        Builder code(int c) {
            code = c;
            return this;
        }

        Builder reason(String r) {
            reason = r;
            return this;
        }

        Builder cause(Throwable t) {
            cause = t;
            return this;
        }

        RaccoonException build() {
            return new RaccoonException(kind, detail, "", 0, httpStatus, grpcCode, code, reason, cause);
        }
    }

    public Kind kind() {
        return kind;
    }

    public String reqGuid() {
        return reqGuid;
    }

    /** How many times the request was sent. */
    public int attempts() {
        return attempts;
    }

    /** The HTTP status of the last attempt (REST, or a refused WebSocket upgrade), else 0. */
    public int httpStatus() {
        return httpStatus;
    }

    /** The gRPC status code name of the last attempt (UNAVAILABLE...), else null. */
    public String grpcCode() {
        return grpcCode;
    }

    /** The ack's code (SendEventResponse.code), else 0. */
    public int code() {
        return code;
    }

    /** The server's reason, if it gave one. */
    public String reason() {
        return reason;
    }

    /** A retry was due but the client's retry budget was empty. */
    public boolean budgetExhausted() {
        return budgetExhausted;
    }

    void setReqGuid(String g) {
        reqGuid = g;
    }

    void setAttempts(int n) {
        attempts = n;
    }

    void setBudgetExhausted() {
        budgetExhausted = true;
    }

    boolean retryable() {
        return kind == Kind.SERVER || kind == Kind.TRANSPORT;
    }

    /** The same failure for another send. */
    RaccoonException copyFor(String guid, int n) {
        RaccoonException e = new RaccoonException(kind, detail, guid, n, httpStatus, grpcCode, code, reason, getCause());
        if (budgetExhausted) e.setBudgetExhausted();
        return e;
    }

    /** The same failure as another kind (an attempt that timed out is a transport failure). */
    RaccoonException as(Kind k, String newDetail) {
        return new RaccoonException(k, newDetail, reqGuid, attempts, httpStatus, grpcCode, code, reason, getCause());
    }

    @Override
    public String getMessage() {
        StringBuilder b = new StringBuilder("raccoon: ").append(kind.name().toLowerCase().replace('_', ' '));
        if (!reqGuid.isEmpty()) {
            b.append(" (req_guid ").append(reqGuid);
            if (attempts > 0) b.append(", ").append(attempts).append(attempts == 1 ? " attempt" : " attempts");
            b.append(')');
        }
        if (httpStatus != 0) b.append(": HTTP ").append(httpStatus);
        if (grpcCode != null) b.append(": gRPC ").append(grpcCode);
        if (code != 0) b.append(": code ").append(code);
        if (!reason.isEmpty()) b.append(": ").append(reason);
        if (!detail.isEmpty() && !detail.equals(reason)) b.append(": ").append(detail);
        if (budgetExhausted) b.append(" (retry budget exhausted)");
        return b.toString();
    }
}
