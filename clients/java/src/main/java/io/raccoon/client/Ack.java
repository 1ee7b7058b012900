package io.raccoon.client;

import java.util.Map;

/**
 * The server's acknowledgement of one batch (a SendEventResponse).
 *
 * @param reqGuid the request's req_guid (data.req_guid)
 * @param status SendEventResponse.status: 1 success, 2 error
 * @param code SendEventResponse.code: 1 OK, 2 bad request, 3 internal error, 4 and 5 refusals
 * @param sentTime the server's sent_time, unix seconds
 * @param reason the server's reason, if any
 * @param data the response's data map
 * @param attempts how many times the request was sent
 */
public record Ack(String reqGuid, int status, int code, long sentTime, String reason, Map<String, String> data, int attempts) {
    public static final int STATUS_SUCCESS = 1;
    public static final int STATUS_ERROR = 2;
    public static final int CODE_OK = 1;
    public static final int CODE_BAD_REQUEST = 2;
    public static final int CODE_INTERNAL_ERROR = 3;
    public static final int CODE_MAX_CONNECTION_LIMIT_REACHED = 4;
    public static final int CODE_MAX_USER_LIMIT_REACHED = 5;

    public Ack {
        data = Map.copyOf(data);
        reason = reason == null ? "" : reason;
        reqGuid = reqGuid == null ? "" : reqGuid;
    }

    /** STATUS_SUCCESS with CODE_OK: the server took the batch. */
    public boolean ok() {
        return status == STATUS_SUCCESS && (code == CODE_OK || code == 0);
    }

    Ack withAttempts(int n) {
        return new Ack(reqGuid, status, code, sentTime, reason, data, n);
    }
}
