package io.raccoon.client;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.raystack.proton.raccoon.v1beta1.EventServiceGrpc;
import org.raystack.proton.raccoon.v1beta1.SendEventResponse;

/** gRPC: raystack.raccoon.v1beta1.EventService/SendEvent by grpc-java. */
final class GrpcTransport implements Transport {
    private final RaccoonClient c;
    private final ManagedChannel channel;
    private final EventServiceGrpc.EventServiceStub stub;

    GrpcTransport(RaccoonClient c, String address) {
        this.c = c;
        ManagedChannelBuilder<?> b = ManagedChannelBuilder.forTarget(address);
        if (!c.options.grpcTls) b.usePlaintext();
        this.channel = b.build();
        Metadata md = new Metadata();
        c.options.requestHeaders().forEach((k, v) ->
                md.put(Metadata.Key.of(k.toLowerCase(java.util.Locale.ROOT), Metadata.ASCII_STRING_MARSHALLER), v));
        this.stub = EventServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
    }

    @Override
    public void start(PendingSend p) {
        c.runAttempts(p, this::attempt);
    }

    private CompletableFuture<Ack> attempt(PendingSend p) {
        CompletableFuture<Ack> f = new CompletableFuture<>();
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        p.cancelAttempt = () -> ctx.cancel(null);
        ctx.run(() -> stub.withDeadlineAfter(c.options.attemptTimeout.toNanos(), TimeUnit.NANOSECONDS)
                .sendEvent(p.request.message(), new io.grpc.stub.StreamObserver<SendEventResponse>() {
                    private SendEventResponse resp;

                    @Override
                    public void onNext(SendEventResponse value) {
                        resp = value;
                    }

                    @Override
                    public void onError(Throwable t) {
                        Status st = Status.fromThrowable(t);
                        RaccoonException.Kind kind = RaccoonException.Kind.BAD_REQUEST;
                        if (st.getCode() == Status.Code.UNAVAILABLE) kind = RaccoonException.Kind.TRANSPORT;
                        else if (RetryPolicy.retryableGrpcCode(st.getCode())) kind = RaccoonException.Kind.SERVER;
                        RaccoonException e = RaccoonException.of(kind).grpcCode(st.getCode().name())
                                .reason(st.getDescription() == null ? "" : st.getDescription())
                                .cause(t instanceof StatusRuntimeException ? t : st.asRuntimeException()).build();
                        if (st.getCode() == Status.Code.DEADLINE_EXCEEDED) e.attemptTimedOut = true;
                        f.completeExceptionally(e);
                    }

                    @Override
                    public void onCompleted() {
                        Ack ack = Codec.fromMessage(resp);
                        if (!ack.reqGuid().equals(p.reqGuid())) {
                            c.options.logger.log(System.Logger.Level.WARNING, "raccoon: gRPC ack names {0}, sent {1}",
                                    ack.reqGuid(), p.reqGuid());
                        }
                        f.complete(ack);
                    }
                }));
        return f.whenComplete((a, t) -> {
            p.cancelAttempt = null;
            ctx.close();
        });
    }

    @Override
    public void forget(PendingSend p) {}

    @Override
    public void close() {
        channel.shutdown();
        try {
            if (!channel.awaitTermination(5, TimeUnit.SECONDS)) channel.shutdownNow();
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
