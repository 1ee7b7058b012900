// Command raccoon-client-bench measures what one Go client sends: batches
// for a while with a window of sends in flight, each counted when its ack
// came back. It prints one JSON object (make bench's client section).
//
//	raccoon-client-bench -protocol websocket -target ws://127.0.0.1:8080/api/v1/events
//	raccoon-client-bench -protocol grpc -target 127.0.0.1:8081
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	raccoon "github.com/raccoon-cpp/raccoon/clients/go"
)

type result struct {
	Client      string  `json:"client"`
	Protocol    string  `json:"protocol"`
	Seconds     float64 `json:"seconds"`
	Batch       int     `json:"batch"`
	EventSize   int     `json:"event_size"`
	Window      int     `json:"window"`
	Acked       int     `json:"acked_batches"`
	Failed      int     `json:"failed_batches"`
	Retried     int     `json:"retried_batches"`
	EventsPerS  float64 `json:"events_per_s"`
	LatencyP50  float64 `json:"ack_p50_ms"`
	LatencyP99  float64 `json:"ack_p99_ms"`
	FirstFailed string  `json:"first_error,omitempty"`
}

func main() {
	protocol := flag.String("protocol", "websocket", "websocket, rest or grpc")
	target := flag.String("target", "", "ws://host:port/api/v1/events, http://..., or host:port for gRPC")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	batch := flag.Int("batch", 10, "events per batch")
	eventSize := flag.Int("event-size", 100, "bytes per event")
	window := flag.Int("window", 64, "sends in flight")
	connID := flag.String("conn-id", "client-bench-go", "connection id")
	verbose := flag.Bool("v", false, "log the client's retries and reconnects to stderr")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "raccoon-client-bench: -target is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration+time.Minute)
	defer cancel()
	opts := []raccoon.Option{raccoon.WithConnID(*connID), raccoon.WithMaxPending(*window * 2)}
	if *verbose {
		opts = append(opts, raccoon.WithLogger(slog.New(slog.NewTextHandler(os.Stderr,
			&slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	var c *raccoon.Client
	var err error
	switch *protocol {
	case "websocket":
		c, err = raccoon.NewWebSocket(ctx, *target, opts...)
	case "rest":
		c, err = raccoon.NewREST(*target, opts...)
	case "grpc":
		c, err = raccoon.NewGRPC(*target, opts...)
	default:
		err = fmt.Errorf("unknown protocol %q", *protocol)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "raccoon-client-bench:", err)
		os.Exit(1)
	}
	events := make([]raccoon.Event, *batch)
	for i := range events {
		data := make([]byte, *eventSize)
		for j := range data {
			data[j] = byte(i + j)
		}
		events[i] = raccoon.Event{Type: "clientbench", Data: data}
	}

	var mu sync.Mutex
	var latencies []time.Duration
	res := result{Client: "go", Protocol: *protocol, Batch: *batch, EventSize: *eventSize, Window: *window}
	slots := make(chan struct{}, *window)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(*duration)
	for time.Now().Before(deadline) {
		slots <- struct{}{}
		sent := time.Now()
		p, err := c.Send(ctx, events...)
		if err != nil {
			<-slots
			mu.Lock()
			res.Failed++
			if res.FirstFailed == "" {
				res.FirstFailed = err.Error()
			}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack, err := p.Wait(ctx)
			took := time.Since(sent)
			<-slots
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				if res.FirstFailed == "" {
					res.FirstFailed = err.Error()
				}
				return
			}
			res.Acked++
			if ack.Attempts > 1 {
				res.Retried++
			}
			latencies = append(latencies, took)
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	_ = c.Close(ctx)
	res.EventsPerS = float64(res.Acked**batch) / res.Seconds
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		res.LatencyP50 = float64(latencies[n/2].Microseconds()) / 1000
		res.LatencyP99 = float64(latencies[min(n-1, n*99/100)].Microseconds()) / 1000
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if res.Acked == 0 {
		os.Exit(1)
	}
}
