package io.raccoon.client;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A minimal WebSocket server on 127.0.0.1 for the unit tests (RFC 6455: the
 * handshake, unfragmented frames, close, ping): each connection's messages go
 * to a handler that may answer on it.
 */
final class FakeWebSocketServer implements AutoCloseable {
    interface Handler {
        void onMessage(Conn conn, byte[] data, boolean text) throws IOException;
    }

    interface OnOpen {
        void onOpen(Conn conn) throws IOException;
    }

    /** One accepted connection. */
    static final class Conn {
        final Socket socket;
        final Map<String, String> headers;
        private final OutputStream out;

        Conn(Socket socket, Map<String, String> headers) throws IOException {
            this.socket = socket;
            this.headers = headers;
            this.out = socket.getOutputStream();
        }

        synchronized void send(byte[] payload, boolean text) throws IOException {
            frame(text ? 1 : 2, payload);
        }

        synchronized void close(int code) throws IOException {
            frame(8, new byte[] {(byte) (code >> 8), (byte) code});
        }

        synchronized void frame(int opcode, byte[] p) throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.write(0x80 | opcode);
            if (p.length < 126) {
                b.write(p.length);
            } else if (p.length < 65536) {
                b.write(126);
                b.write(p.length >> 8);
                b.write(p.length);
            } else {
                b.write(127);
                for (int i = 7; i >= 0; i--) b.write((int) ((long) p.length >> (8 * i)));
            }
            b.write(p);
            out.write(b.toByteArray());
            out.flush();
        }

        void kill() throws IOException {
            socket.close();
        }
    }

    final ServerSocket server;
    final List<Conn> connections = new CopyOnWriteArrayList<>();
    private final Thread acceptor;
    private final Map<Socket, Thread> readers = new ConcurrentHashMap<>();

    FakeWebSocketServer(OnOpen onOpen, Handler handler) throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        acceptor = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread t = new Thread(() -> serve(s, onOpen, handler), "fake-ws-conn");
                    t.setDaemon(true);
                    readers.put(s, t);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, "fake-ws-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    String url() {
        return "ws://127.0.0.1:" + server.getLocalPort() + "/api/v1/events";
    }

    private void serve(Socket s, OnOpen onOpen, Handler handler) {
        try (s) {
            s.setSoTimeout(30_000);
            DataInputStream in = new DataInputStream(s.getInputStream());
            Map<String, String> headers = new ConcurrentHashMap<>();
            String line = readLine(in);
            while (!(line = readLine(in)).isEmpty()) {
                int i = line.indexOf(':');
                headers.put(line.substring(0, i).trim().toLowerCase(Locale.ROOT), line.substring(i + 1).trim());
            }
            String accept = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-1").digest(
                    (headers.get("sec-websocket-key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").getBytes(StandardCharsets.US_ASCII)));
            s.getOutputStream().write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: " + accept + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            Conn conn = new Conn(s, headers);
            connections.add(conn);
            onOpen.onOpen(conn);
            for (;;) {
                int b0 = in.readUnsignedByte();
                int b1 = in.readUnsignedByte();
                long len = b1 & 0x7f;
                if (len == 126) len = in.readUnsignedShort();
                else if (len == 127) len = in.readLong();
                byte[] mask = new byte[4];
                if ((b1 & 0x80) != 0) in.readFully(mask);
                byte[] p = new byte[(int) len];
                in.readFully(p);
                for (int i = 0; i < p.length; i++) p[i] ^= mask[i % 4];
                int opcode = b0 & 0x0f;
                if (opcode == 8) {
                    conn.frame(8, p);
                    return;
                } else if (opcode == 9) {
                    conn.frame(10, p);
                } else if (opcode == 1 || opcode == 2) {
                    handler.onMessage(conn, p, opcode == 1);
                }
            }
        } catch (Exception e) {
            // the connection ended
        }
    }

    private static String readLine(DataInputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            if (c != '\r') b.append((char) c);
        }
        return b.toString();
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Conn c : connections) c.kill();
    }
}
