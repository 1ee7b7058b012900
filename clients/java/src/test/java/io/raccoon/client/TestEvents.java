package io.raccoon.client;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Events whose data suits the serialization, and raw bytes with NULs and invalid UTF-8 every third. */
final class TestEvents {
    private TestEvents() {}

    static List<Event> make(String type, Serialization s, String tag, int count) {
        List<Event> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Object data;
            if (i % 3 == 2) {
                byte[] head = (tag + ":" + i + ":").getBytes(StandardCharsets.UTF_8);
                byte[] b = new byte[head.length + 8];
                System.arraycopy(head, 0, b, 0, head.length);
                byte[] tail = {0, (byte) 0xff, (byte) 0x80, 0, (byte) 0xc3, 0x28, '\n', (byte) i};
                System.arraycopy(tail, 0, b, head.length, tail.length);
                data = b;
            } else if (s == Serialization.PROTOBUF) {
                data = Struct.newBuilder().putFields("tag", Value.newBuilder().setStringValue(tag).build())
                        .putFields("i", Value.newBuilder().setNumberValue(i).build())
                        .putFields("ok", Value.newBuilder().setBoolValue(true).build()).build();
            } else {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("tag", tag);
                m.put("i", i);
                m.put("text", "héllo \"x\"");
                data = m;
            }
            out.add(Event.of(type, data));
        }
        return out;
    }

    static List<byte[]> serialized(List<Event> events, Serialization s) {
        List<byte[]> out = new ArrayList<>();
        for (Event e : events) out.add(Codec.serialize(e.data(), s));
        return out;
    }
}
