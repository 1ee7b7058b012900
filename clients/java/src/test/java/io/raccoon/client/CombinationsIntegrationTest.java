package io.raccoon.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every combination against the real server and Kafka: WebSocket and REST with
 * both wire types and both serializations, gRPC with both serializations (10).
 * Every ack matches its guid at the first attempt; every event is in Kafka
 * once, byte for byte.
 */
@Tag("integration")
class CombinationsIntegrationTest {
    private static TestServer srv;

    @BeforeAll
    static void start() throws Exception {
        srv = TestServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (srv != null) srv.close();
    }

    static Stream<Arguments> combinations() {
        List<Arguments> out = new ArrayList<>();
        int i = 0;
        for (RaccoonClient.Protocol p : List.of(RaccoonClient.Protocol.WEBSOCKET, RaccoonClient.Protocol.REST)) {
            for (WireType w : WireType.values()) {
                for (Serialization s : Serialization.values()) out.add(Arguments.of(i++, p, w, s));
            }
        }
        out.add(Arguments.of(i++, RaccoonClient.Protocol.GRPC, WireType.PROTOBUF, Serialization.PROTOBUF));
        out.add(Arguments.of(i, RaccoonClient.Protocol.GRPC, WireType.PROTOBUF, Serialization.JSON));
        return out.stream();
    }

    static RaccoonClient.Builder builder(TestServer srv, RaccoonClient.Protocol p) {
        return switch (p) {
            case WEBSOCKET -> RaccoonClient.webSocket(srv.wsUrl());
            case REST -> RaccoonClient.rest(srv.restUrl());
            case GRPC -> RaccoonClient.grpc(srv.grpcAddress());
        };
    }

    @ParameterizedTest(name = "{1} {2} wire, {3} data")
    @MethodSource("combinations")
    void everyCombination(int i, RaccoonClient.Protocol protocol, WireType wire, Serialization ser) throws Exception {
        ConcurrentLinkedQueue<String> stream = new ConcurrentLinkedQueue<>();
        try (RaccoonClient client = builder(srv, protocol).connId("java-combo-" + i).wireType(wire).serialization(ser)
                .onAck((guid, ack, err) -> stream.add(guid + (ack != null && ack.ok() ? " ok" : " failed"))).build()) {
            String type = "javacombo" + i;
            List<byte[]> want = new ArrayList<>();
            List<PendingSend> sends = new ArrayList<>();
            for (int b = 0; b < 3; b++) {
                List<Event> events = TestEvents.make(type, ser, protocol + "/" + wire + "/" + ser + "/" + b, 4);
                sends.add(client.send(events));
                want.addAll(TestEvents.serialized(events, ser));
            }
            for (PendingSend p : sends) {
                Ack ack = p.get(60, TimeUnit.SECONDS);
                assertTrue(ack.ok(), ack.toString());
                assertEquals(p.reqGuid(), ack.reqGuid());
                assertEquals(1, ack.attempts());
            }
            assertEquals(sends.stream().map(p -> p.reqGuid() + " ok").sorted().toList(), stream.stream().sorted().toList(),
                    "the ack stream carries every send once");
            TestServer.assertTopicHolds(srv.topic(type), want, true);
        }
    }
}
