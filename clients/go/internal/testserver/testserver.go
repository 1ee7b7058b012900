// Package testserver starts the real raccoon binary and reads the real
// Kafka broker for the client's integration tests.
//
// Environment (set by clients/CMakeLists.txt, as tests/integration does):
//
//	RACCOON_BIN        the server binary
//	RACCOON_KAFKA_DIR  the broker's state dir; its host:port is in DIR/bootstrap
//
// Every wait is bounded; every address is 127.0.0.1.
package testserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Host is the only address the tests use.
const Host = "127.0.0.1"

// Env returns the named variable or fails the test.
func Env(t testing.TB, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the integration tests through ctest (clients/CMakeLists.txt)", name)
	}
	return v
}

// Bootstrap is the broker's host:port.
func Bootstrap(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join(Env(t, "RACCOON_KAFKA_DIR"), "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// FreePort is a port nobody listens on now.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", Host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is one raccoon process.
type Server struct {
	t        testing.TB
	Port     int
	GRPCPort int
	Pattern  string
	env      []string
	dir      string
	cmd      *exec.Cmd
	runs     int
}

// Start starts raccoon on free ports with a unique topic pattern and
// EVENT_ACK=1; extra holds more KEY=VALUE settings. The test's cleanup stops
// it and fails the test if it does not exit 0.
func Start(t testing.TB, extra ...string) *Server {
	random := make([]byte, 6)
	_, _ = rand.Read(random)
	s := &Server{t: t, Port: FreePort(t), dir: t.TempDir(), Pattern: "goclient-" + hex.EncodeToString(random) + "-%s"}
	for s.GRPCPort = FreePort(t); s.GRPCPort == s.Port; s.GRPCPort = FreePort(t) {
	}
	settings := []string{
		"SERVER_WEBSOCKET_PORT=" + strconv.Itoa(s.Port),
		"SERVER_GRPC_PORT=" + strconv.Itoa(s.GRPCPort),
		"SERVER_BIND_ADDRESS=" + Host,
		"SERVER_IO_THREADS=2",
		"PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS=" + Bootstrap(t),
		"EVENT_DISTRIBUTION_PUBLISHER_PATTERN=" + s.Pattern,
		"EVENT_ACK=1",
		"WORKER_BUFFER_FLUSH_TIMEOUT_MS=3000",
		"PUBLISHER_KAFKA_FLUSH_INTERVAL_MS=2000",
		"LOG_LEVEL=info",
	}
	for _, kv := range os.Environ() {
		if !hasSettingPrefix(kv) {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(append(s.env, settings...), extra...)
	s.run()
	t.Cleanup(func() {
		if code := s.Stop(); code != 0 {
			t.Errorf("raccoon exited with %d; stderr:\n%s", code, s.Stderr())
		}
	})
	return s
}

func hasSettingPrefix(kv string) bool {
	for _, p := range []string{"SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_", "LOG_"} {
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

func (s *Server) run() {
	s.runs++
	out, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("stderr-%d", s.runs)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(Env(s.t, "RACCOON_BIN"), "server")
	s.cmd.Env = s.env
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(s.HTTPURL() + "/ping"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("raccoon did not answer /ping within 20 s:\n%s", s.Stderr())
}

// Stop sends SIGTERM and waits (bounded) for the exit code; -1 if killed.
func (s *Server) Stop() int {
	if s.cmd == nil {
		return 0
	}
	cmd := s.cmd
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return -1
	}
}

// Restart stops the server (it must exit 0) and starts it again on the same ports.
func (s *Server) Restart() {
	if code := s.Stop(); code != 0 {
		s.t.Errorf("raccoon exited with %d on restart", code)
	}
	s.run()
}

// Stderr is the server's stderr of every run.
func (s *Server) Stderr() string {
	var b strings.Builder
	for i := 1; i <= s.runs; i++ {
		data, _ := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("stderr-%d", i)))
		b.Write(data)
	}
	out := b.String()
	if len(out) > 8000 {
		out = out[len(out)-8000:]
	}
	return out
}

func (s *Server) HTTPURL() string { return fmt.Sprintf("http://%s:%d", Host, s.Port) }
func (s *Server) RESTURL() string { return s.HTTPURL() + "/api/v1/events" }
func (s *Server) WSURL() string   { return fmt.Sprintf("ws://%s:%d/api/v1/events", Host, s.Port) }
func (s *Server) GRPCAddr() string {
	return fmt.Sprintf("%s:%d", Host, s.GRPCPort)
}

// Topic is the topic of an event type.
func (s *Server) Topic(eventType string) string {
	return strings.Replace(s.Pattern, "%s", eventType, 1)
}

// ReadTopic reads a topic from the beginning with kcat until it holds at
// least want messages or the timeout passes; returns every message.
func ReadTopic(t testing.TB, topic string, want int, timeout time.Duration) [][]byte {
	deadline := time.Now().Add(timeout)
	var got [][]byte
	var lastErr string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", Bootstrap(t), "-t", topic,
			"-o", "beginning", "-e", "-q", "-f", "%S\n%s")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err == nil {
			got, err = parseSized(out)
			if err != nil {
				t.Fatalf("reading kcat output: %v", err)
			}
			if len(got) >= want {
				return got
			}
		} else {
			lastErr = fmt.Sprintf("%v: %s", err, stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d of %d messages within %v (%s)", topic, len(got), want, timeout, lastErr)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// parseSized splits kcat's "%S\n%s" output: a decimal size, a newline, that
// many bytes, for each message.
func parseSized(out []byte) ([][]byte, error) {
	var msgs [][]byte
	r := bufio.NewReader(bytes.NewReader(out))
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return msgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("size line %q: %v", line, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("size line %q", line)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return nil, fmt.Errorf("message of %d bytes: %v", n, err)
		}
		msgs = append(msgs, msg)
	}
}
