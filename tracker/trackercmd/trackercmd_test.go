package trackercmd

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

func TestTrackerCmdServesAndStops(t *testing.T) {
	cmd := New()
	var logs testpeers.SyncBuffer
	cmd.SetErr(&logs)
	cmd.SetOut(io.Discard)
	cmd.SetArgs([]string{"--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--interval", "1m", "--min-interval", "10s"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	m := testpeers.WaitSubmatch(&logs, regexp.MustCompile(`metrics=(127\.0\.0\.1:\d+)`), 10*time.Second)
	if m == nil {
		cancel()
		t.Fatalf("no 'tracker serving' log line: %s", logs.String())
	}
	metrics := m[1]
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
		cmd := New()
		cmd.SetErr(io.Discard)
		cmd.SetOut(io.Discard)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err == nil {
			t.Errorf("shoal tracker %v: no error", args)
		}
	}
}
