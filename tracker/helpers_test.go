package tracker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"shoal/tracker/store"
)

// startServer runs a tracker on 127.0.0.1 with ephemeral ports until the test ends.
func startServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.UDPAddr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(&testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return 10 s after its context ended")
		}
	})
	return srv
}

type testLogWriter struct{ t testing.TB }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testHash returns a distinct infohash for each i.
func testHash(i int) store.InfoHash {
	var h store.InfoHash
	for j := range h {
		h[j] = byte(i*31 + j*7 + 1)
	}
	return h
}

func peerID(i int) string { return fmt.Sprintf("-SH0001-%012d", i) }

// announceQuery builds a valid announce query, then applies the overrides (a value "" removes
// the parameter).
func announceQueryString(h store.InfoHash, port int, overrides map[string]string) string {
	v := map[string]string{
		"info_hash":  string(h[:]),
		"peer_id":    peerID(port),
		"port":       fmt.Sprint(port),
		"uploaded":   "0",
		"downloaded": "0",
		"left":       "100",
		"compact":    "1",
	}
	for k, val := range overrides {
		v[k] = val
	}
	var parts []string
	for _, k := range []string{"info_hash", "peer_id", "port", "uploaded", "downloaded", "left", "compact", "numwant", "event", "ip", "no_peer_id"} {
		if val, ok := v[k]; ok && val != "" {
			parts = append(parts, k+"="+url.QueryEscape(val))
		}
	}
	return strings.Join(parts, "&")
}

// httpGet sends one raw GET on a new connection and returns the status code and body.
func httpGet(t testing.TB, addr net.Addr, target string, extraHeaders ...string) (int, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: x\r\n"
	for _, h := range extraHeaders {
		req += h + "\r\n"
	}
	req += "Connection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	status, body, err := readResponse(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("GET %.80s: %v", target, err)
	}
	return status, body
}

// readResponse reads one HTTP response with a Content-Length.
func readResponse(r *bufio.Reader) (int, []byte, error) {
	var status, length int
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, fmt.Errorf("status line: %w", err)
	}
	if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &status); err != nil {
		return 0, nil, fmt.Errorf("status line %q: %w", line, err)
	}
	length = -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, fmt.Errorf("header: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Content-Length") {
			fmt.Sscan(strings.TrimSpace(value), &length)
		}
	}
	if length < 0 {
		return 0, nil, fmt.Errorf("no Content-Length")
	}
	body := make([]byte, length)
	_, err = io.ReadFull(r, body)
	return status, body, err
}

// decode bencode-decodes a reply into a generic map, failing the test if it is not one.
func decode(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := bencode.Unmarshal(body, &m); err != nil {
		t.Fatalf("reply %q is not a bencoded dictionary: %v", body, err)
	}
	return m
}
