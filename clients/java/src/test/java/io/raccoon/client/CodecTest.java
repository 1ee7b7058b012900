package io.raccoon.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Struct;
import com.google.protobuf.Timestamp;
import com.google.protobuf.Value;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Wire type x serialization (golden bytes from protoc --encode) and ack decoding. */
@Tag("unit")
class CodecTest {
    static final Instant SENT = Instant.ofEpochMilli(1700000000123L);
    static final List<Event> EVENTS = List.of(Event.of("click", new byte[] {1, 2, (byte) 0xff}), Event.of("page", Map.of("a", 1)));

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    @Test
    void protobufWireIsWhatProtocEncodes() {
        Codec.Request r = Codec.encodeRequest("guid-1", SENT, EVENTS, WireType.PROTOBUF, Serialization.JSON, null);
        assertEquals("0a06677569642d31120b0880e2cfaa0610c0a9d33a1a0c0a030102ff1205636c69636b1a0f0a077b2261223a317d120470616765",
                hex(r.body()));
        assertEquals(2, r.events());
    }

    @Test
    void jsonWire() {
        Codec.Request r = Codec.encodeRequest("guid-1", SENT, EVENTS, WireType.JSON, Serialization.JSON, null);
        assertEquals("{\"req_guid\":\"guid-1\",\"sent_time\":{\"seconds\":1700000000,\"nanos\":123000000},"
                + "\"events\":[{\"event_bytes\":\"AQL/\",\"type\":\"click\"},{\"event_bytes\":\"eyJhIjoxfQ==\",\"type\":\"page\"}]}",
                new String(r.body(), StandardCharsets.UTF_8));
    }

    @Test
    void emptyBatchEncodes() {
        assertEquals("{\"req_guid\":\"g\",\"sent_time\":{\"seconds\":1700000000,\"nanos\":123000000},\"events\":[]}",
                new String(Codec.encodeRequest("g", SENT, List.of(), WireType.JSON, Serialization.JSON, null).body(),
                        StandardCharsets.UTF_8));
    }

    @Test
    void serialization() {
        byte[] raw = {0, (byte) 0xc3, 0x28};
        assertArrayEquals(raw, Codec.serialize(raw, Serialization.PROTOBUF));
        assertArrayEquals(raw, Codec.serialize(raw, Serialization.JSON));
        Timestamp ts = Timestamp.newBuilder().setSeconds(5).setNanos(1).build();
        assertEquals("08051001", hex(Codec.serialize(ts, Serialization.PROTOBUF)));
        assertEquals("\"1970-01-01T00:00:05.000000001Z\"", new String(Codec.serialize(ts, Serialization.JSON), StandardCharsets.UTF_8));
        Struct st = Struct.newBuilder().putFields("b", Value.newBuilder().setNumberValue(2).build())
                .putFields("a", Value.newBuilder().setStringValue("x").build()).build();
        // Deterministic: map entries sorted by key.
        assertArrayEquals(Codec.serialize(st, Serialization.PROTOBUF), Codec.serialize(Struct.newBuilder().putFields("a", Value.newBuilder().setStringValue("x").build()).putFields("b", Value.newBuilder().setNumberValue(2).build()).build(), Serialization.PROTOBUF));
        assertTrue(hex(Codec.serialize(st, Serialization.PROTOBUF)).startsWith("0a080a0161"));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("k", "é\n\"\u0001");
        m.put("n", Arrays.asList(1, null, 2.5, true));
        m.put("nested", Map.of("x", new int[] {1, 2}));
        assertEquals("{\"k\":\"é\\n\\\"\\u0001\",\"n\":[1,null,2.5,true],\"nested\":{\"x\":[1,2]}}",
                new String(Codec.serialize(m, Serialization.JSON), StandardCharsets.UTF_8));
        assertEquals("\"s\"", new String(Codec.serialize("s", Serialization.JSON), StandardCharsets.UTF_8));
        assertEquals("[7]", new String(Codec.serialize(List.of(new Object()), Serialization.JSON, o -> "[7]".getBytes()),
                StandardCharsets.UTF_8));
    }

    @Test
    void serializationErrorsAreEncodingErrorsNamingTheEvent() {
        assertThrows(IllegalArgumentException.class, () -> Codec.serialize(Map.of(), Serialization.PROTOBUF));
        assertThrows(IllegalArgumentException.class, () -> Codec.serialize(new Object(), Serialization.JSON));
        assertThrows(IllegalArgumentException.class, () -> Codec.serialize(Double.NaN, Serialization.JSON));
        RaccoonException e = assertThrows(RaccoonException.class, () -> Codec.encodeRequest("g", SENT,
                List.of(Event.of("x", Map.of("a", 1))), WireType.PROTOBUF, Serialization.PROTOBUF, null));
        assertEquals(RaccoonException.Kind.ENCODING, e.kind());
        assertTrue(e.getMessage().contains("event 0 (x)"), e.getMessage());
        assertEquals("g", e.reqGuid());
    }

    @Test
    void acksDecode() throws Exception {
        Ack ok = Codec.decodeAck(HexFormat.of().parseHex("080110011881e2cfaa062a120a087265715f677569641206677569642d31"),
                WireType.PROTOBUF);
        assertEquals("guid-1", ok.reqGuid());
        assertEquals(1700000001L, ok.sentTime());
        assertTrue(ok.ok());
        Ack refusal = Codec.decodeAck(HexFormat.of().parseHex("080210051881e2cfaa062211616c726561647920636f6e6e6563746564"),
                WireType.PROTOBUF);
        assertEquals("", refusal.reqGuid());
        assertEquals(Ack.CODE_MAX_USER_LIMIT_REACHED, refusal.code());
        assertEquals("already connected", refusal.reason());
        assertFalse(refusal.ok());
        Ack j = Codec.decodeAck("{\"status\":2,\"code\":2,\"sent_time\":1700000001,\"reason\":\"events[0] is null\",\"data\":{\"req_guid\":\"g\"}}"
                .getBytes(StandardCharsets.UTF_8), WireType.JSON);
        assertEquals(List.of("g", 2, 2, "events[0] is null", false), List.of(j.reqGuid(), j.status(), j.code(), j.reason(), j.ok()));
        Ack nodata = Codec.decodeAck("{\"status\":2,\"code\":2,\"sent_time\":1,\"reason\":\"bad\"}".getBytes(StandardCharsets.UTF_8),
                WireType.JSON);
        assertEquals("", nodata.reqGuid());
        assertThrows(Exception.class, () -> Codec.decodeAck("not json".getBytes(StandardCharsets.UTF_8), WireType.JSON));
    }
}
