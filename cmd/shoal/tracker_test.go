package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger's writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTrackerCmdServesAndStops(t *testing.T) {
	cmd := newTrackerCmd()
	var logs syncBuffer
	cmd.SetErr(&logs)
	cmd.SetOut(io.Discard)
	cmd.SetArgs([]string{"--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--interval", "1m", "--min-interval", "10s"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	metricsRE := regexp.MustCompile(`metrics=(127\.0\.0\.1:\d+)`)
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); metrics == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := metricsRE.FindStringSubmatch(logs.String()); m != nil {
			metrics = m[1]
		}
	}
	if metrics == "" {
		cancel()
		t.Fatalf("no 'tracker serving' log line: %s", logs.String())
	}
	resp, err := http.Get("http://" + metrics + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"torrents": 0`) {
		t.Errorf("/stats: %s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tracker command returned %v after its context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tracker command did not stop within 10 s of its context ending")
	}
}

func TestTrackerCmdRejectsBadFlags(t *testing.T) {
	local := []string{"--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"}
	for _, args := range [][]string{
		append([]string{"--trusted-proxy", "not-a-cidr"}, local...),
		{"--http", "", "--udp", ""},
		append([]string{"--allow", "/nonexistent/allow-list"}, local...),
		append([]string{"--interval", "1m", "--min-interval", "2m"}, local...),
	} {
		cmd := newTrackerCmd()
		cmd.SetErr(io.Discard)
		cmd.SetOut(io.Discard)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err == nil {
			t.Errorf("shoal tracker %v: no error", args)
		}
	}
}
