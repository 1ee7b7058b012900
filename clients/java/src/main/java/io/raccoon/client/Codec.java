package io.raccoon.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.raystack.proton.raccoon.v1beta1.SendEventRequest;
import org.raystack.proton.raccoon.v1beta1.SendEventResponse;

/** Wire type x serialization (clients/README.md, section 2). */
public final class Codec {
    private Codec() {}

    /** One encoded request: the same bytes go out on every attempt. */
    record Request(String reqGuid, WireType wire, byte[] body, SendEventRequest message, int events) {}

    /**
     * An event's data to its event_bytes: byte[] as given, a protobuf Message by
     * its deterministic binary encoding or its canonical JSON, other values as
     * compact JSON (serialization JSON only; jsonMapper, when given, writes them).
     * These bytes reach Kafka untouched.
     */
    public static byte[] serialize(Object data, Serialization s, Function<Object, byte[]> jsonMapper) {
        if (data instanceof byte[] b) return b;
        if (data instanceof ByteString bs) return bs.toByteArray();
        if (data instanceof Message m) {
            if (s == Serialization.JSON) {
                try {
                    return JsonFormat.printer().omittingInsignificantWhitespace().print(m).getBytes(StandardCharsets.UTF_8);
                } catch (InvalidProtocolBufferException e) {
                    throw new IllegalArgumentException("the message has no JSON form: " + e.getMessage(), e);
                }
            }
            return deterministic(m);
        }
        if (s == Serialization.PROTOBUF) {
            throw new IllegalArgumentException("protobuf serialization needs a protobuf Message or byte[], got "
                    + (data == null ? "null" : data.getClass().getName()));
        }
        if (jsonMapper != null) return jsonMapper.apply(data);
        StringBuilder b = new StringBuilder();
        writeJson(b, data);
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static byte[] serialize(Object data, Serialization s) {
        return serialize(data, s, null);
    }

    static byte[] deterministic(Message m) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream(m.getSerializedSize());
            CodedOutputStream c = CodedOutputStream.newInstance(out);
            c.useDeterministicSerialization();
            m.writeTo(c);
            c.flush();
            return out.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Compact JSON of maps, iterables, arrays, strings, numbers, booleans and null. */
    static void writeJson(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof CharSequence || v instanceof Character || v instanceof Enum<?>) {
            writeString(b, v instanceof Enum<?> e ? e.name() : v.toString());
        } else if (v instanceof Boolean) {
            b.append(v);
        } else if (v instanceof Double d && (d.isNaN() || d.isInfinite())
                || v instanceof Float f && (f.isNaN() || f.isInfinite())) {
            throw new IllegalArgumentException("JSON has no " + v);
        } else if (v instanceof Number n) {
            b.append(n);
        } else if (v instanceof Map<?, ?> m) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) b.append(',');
                first = false;
                writeString(b, String.valueOf(e.getKey()));
                b.append(':');
                writeJson(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof Iterable<?> it) {
            b.append('[');
            boolean first = true;
            for (Object o : it) {
                if (!first) b.append(',');
                first = false;
                writeJson(b, o);
            }
            b.append(']');
        } else if (v.getClass().isArray()) {
            b.append('[');
            for (int i = 0, n = Array.getLength(v); i < n; i++) {
                if (i > 0) b.append(',');
                writeJson(b, Array.get(v, i));
            }
            b.append(']');
        } else {
            throw new IllegalArgumentException(v.getClass().getName()
                    + " has no JSON form here: pass a Map, List, String, Number, Boolean, byte[] or protobuf Message,"
                    + " or give the builder a jsonMapper");
        }
    }

    static void writeString(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }

    /** Serializes every event and encodes the request by the wire type. */
    static Request encodeRequest(String reqGuid, Instant sentAt, List<Event> events, WireType wire, Serialization s,
            Function<Object, byte[]> jsonMapper) {
        SendEventRequest.Builder msg = SendEventRequest.newBuilder().setReqGuid(reqGuid)
                .setSentTime(Timestamp.newBuilder().setSeconds(sentAt.getEpochSecond()).setNanos(sentAt.getNano()));
        StringBuilder json = wire == WireType.JSON ? new StringBuilder() : null;
        if (json != null) {
            json.append("{\"req_guid\":");
            writeString(json, reqGuid);
            json.append(",\"sent_time\":{\"seconds\":").append(sentAt.getEpochSecond()).append(",\"nanos\":")
                    .append(sentAt.getNano()).append("},\"events\":[");
        }
        for (int i = 0; i < events.size(); i++) {
            Event e = events.get(i);
            byte[] bytes;
            try {
                bytes = serialize(e.data(), s, jsonMapper);
            } catch (RuntimeException err) {
                RaccoonException x = RaccoonException.of(RaccoonException.Kind.ENCODING)
                        .detail("event " + i + " (" + e.type() + "): " + err.getMessage()).cause(err).build();
                x.setReqGuid(reqGuid);
                throw x;
            }
            msg.addEventsBuilder().setEventBytes(ByteString.copyFrom(bytes)).setType(e.type());
            if (json != null) {
                if (i > 0) json.append(',');
                json.append("{\"event_bytes\":\"").append(Base64.getEncoder().encodeToString(bytes)).append("\",\"type\":");
                writeString(json, e.type());
                json.append('}');
            }
        }
        SendEventRequest m = msg.build();
        byte[] body;
        if (json != null) {
            json.append("]}");
            body = json.toString().getBytes(StandardCharsets.UTF_8);
        } else {
            body = m.toByteArray();
        }
        return new Request(reqGuid, wire, body, m, events.size());
    }

    /** Decodes a SendEventResponse in the given wire type (JSON: enums as numbers). */
    static Ack decodeAck(byte[] body, WireType wire) throws InvalidProtocolBufferException {
        SendEventResponse m;
        if (wire == WireType.JSON) {
            SendEventResponse.Builder b = SendEventResponse.newBuilder();
            JsonFormat.parser().ignoringUnknownFields().merge(new String(body, StandardCharsets.UTF_8), b);
            m = b.build();
        } else {
            m = SendEventResponse.parseFrom(body);
        }
        return fromMessage(m);
    }

    static Ack fromMessage(SendEventResponse m) {
        return new Ack(m.getDataMap().getOrDefault("req_guid", ""), m.getStatusValue(), m.getCodeValue(), m.getSentTime(),
                m.getReason(), m.getDataMap(), 0);
    }
}
