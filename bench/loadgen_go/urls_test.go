package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseURLs(t *testing.T) {
	hosts, first, err := parseURLs("ws://127.0.0.1:1/ws?x=1, ws://127.0.0.1:2/ws?x=1,ws://h:3/ws?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if first != "ws://127.0.0.1:1/ws?x=1" || strings.Join(hosts, " ") != "127.0.0.1:1 127.0.0.1:2 h:3" {
		t.Errorf("got %q %q", hosts, first)
	}
	for _, bad := range []string{
		"ws://127.0.0.1:1/ws",                            // one URL only
		"ws://127.0.0.1:1/ws,ws://127.0.0.1:2/x",         // another path
		"ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws?room=1", // another query
		"ws://127.0.0.1:1/ws,http://127.0.0.1:2/ws",      // not ws://
		"ws://127.0.0.1:1/ws,",                           // an empty entry
	} {
		if _, _, err := parseURLs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseFlagsURLs(t *testing.T) {
	cfg, err := parseFlags([]string{"--urls=ws://a:1/ws,ws://b:2/ws", "--extra-pids=10, 20"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.host != "a:1" || cfg.path != "/ws" || cfg.rawURL != "ws://a:1/ws" || len(cfg.hosts) != 2 {
		t.Errorf("publishers' URL: host %q path %q raw %q hosts %q", cfg.host, cfg.path, cfg.rawURL, cfg.hosts)
	}
	if len(cfg.pids) != 2 || cfg.pids[0] != 10 || cfg.pids[1] != 20 {
		t.Errorf("pids %v", cfg.pids)
	}
	if _, err := parseFlags([]string{"--extra-pids=1,x"}); err == nil {
		t.Error("--extra-pids=1,x: no error")
	}
	plain, err := parseFlags([]string{"--url=ws://c:3/ws"})
	if err != nil || plain.hosts != nil || plain.pids != nil {
		t.Errorf("without --urls: %v %v %v", err, plain.hosts, plain.pids)
	}
}

func TestHostFor(t *testing.T) {
	r := &runner{cfg: &config{host: "a:1", hosts: []string{"a:1", "b:2", "c:3"}}}
	for j, want := range []string{"a:1", "b:2", "c:3", "a:1", "b:2"} {
		if got := r.hostFor(&client{id: j, pub: -1}); got != want {
			t.Errorf("subscriber %d: %s, want %s", j, got, want)
		}
	}
	if got := r.hostFor(&client{id: 7, pub: 0}); got != "a:1" {
		t.Errorf("a publisher: %s, want the first", got)
	}
	one := &runner{cfg: &config{host: "a:1"}}
	if got := one.hostFor(&client{id: 5, pub: -1}); got != "a:1" {
		t.Errorf("without --urls: %s", got)
	}
}

// Two servers that broadcast every message to the connections of both (a cluster in miniature):
// subscribers are split between them, the publisher is on the first, every delivery arrives, and
// the report says how many subscribers each server had.
func TestRunAcrossTwoServers(t *testing.T) {
	var mu sync.Mutex
	type peer struct {
		ws     *websocket.Conn
		server int
		wmu    sync.Mutex
	}
	peers := map[*peer]bool{}
	serve := func(server int) http.HandlerFunc {
		upgrader := websocket.Upgrader{}
		return func(w http.ResponseWriter, req *http.Request) {
			ws, err := upgrader.Upgrade(w, req, nil)
			if err != nil {
				return
			}
			p := &peer{ws: ws, server: server}
			mu.Lock()
			peers[p] = true
			mu.Unlock()
			defer func() {
				mu.Lock()
				delete(peers, p)
				mu.Unlock()
				ws.Close()
			}()
			for {
				op, msg, err := ws.ReadMessage()
				if err != nil {
					return
				}
				mu.Lock()
				all := make([]*peer, 0, len(peers))
				for q := range peers {
					all = append(all, q)
				}
				mu.Unlock()
				for _, q := range all {
					q.wmu.Lock()
					q.ws.WriteMessage(op, msg)
					q.wmu.Unlock()
				}
			}
		}
	}
	a := httptest.NewServer(serve(0))
	defer a.Close()
	b := httptest.NewServer(serve(1))
	defer b.Close()
	urls := "ws://" + a.Listener.Addr().String() + "/ws,ws://" + b.Listener.Addr().String() + "/ws"
	cfg, err := parseFlags([]string{
		"--urls=" + urls, "--subs=9", "--messages=20", "--size=64", "--time-limit=20", "--drain=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Count where each connection landed, once all are connected: the run closes them at its end.
	counts := [2]int{}
	wait := make(chan struct{})
	go func() {
		defer close(wait)
		for i := 0; i < 200; i++ {
			mu.Lock()
			n := len(peers)
			if n == 10 {
				for p := range peers {
					counts[p.server]++
				}
			}
			mu.Unlock()
			if n == 10 {
				return
			}
			<-time.After(10 * time.Millisecond)
		}
	}()
	rep, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	<-wait
	if !rep.OK || rep.Received != 9*20 || rep.Connected != 9 {
		t.Fatalf("ok %v, received %d of %d, connected %d: %+v", rep.OK, rep.Received, rep.Expected, rep.Connected, rep)
	}
	if counts != [2]int{5 + 1, 4} {
		t.Errorf("connections per server %v, want 6 (5 subscribers + the publisher) and 4", counts)
	}
	if len(rep.LatencyByURL) != 2 || rep.LatencyByURL[0].Subs != 5 || rep.LatencyByURL[1].Subs != 4 {
		t.Fatalf("latencyByUrl %+v", rep.LatencyByURL)
	}
	for i, u := range rep.LatencyByURL {
		if !(u.LatencyMs.P50 > 0) || u.LatencyMs.P99 < u.LatencyMs.P50 || u.LatencyMs.Max < u.LatencyMs.P99 {
			t.Errorf("server %d latencies %+v", i, u.LatencyMs)
		}
	}
	if len(rep.URLs) != 2 {
		t.Errorf("urls %v", rep.URLs)
	}
}
