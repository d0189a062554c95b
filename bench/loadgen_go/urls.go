package main

// Several servers of one cluster (--urls): subscribers spread over them, publishers on the first,
// and the subscribers' latency kept per server as well as overall; and the CPU of other processes
// (--extra-pids: the other servers, Redis) over the same window as the server's.

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// parseURLs checks a --urls list: ws:// URLs that differ only in host:port. It returns their hosts
// and the first URL (the publishers', and the one whose path and query every URL shares).
func parseURLs(list string) (hosts []string, first string, err error) {
	var path, query string
	for i, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil {
			return nil, "", fmt.Errorf("--urls: %v", err)
		}
		if u.Scheme != "ws" || u.Host == "" {
			return nil, "", fmt.Errorf("--urls: %q is not a ws://host:port URL", raw)
		}
		if i == 0 {
			path, query, first = u.EscapedPath(), u.RawQuery, raw
		} else if u.EscapedPath() != path || u.RawQuery != query {
			return nil, "", errors.New("--urls must differ only in host:port")
		}
		hosts = append(hosts, u.Host)
	}
	if len(hosts) < 2 {
		return nil, "", errors.New("--urls needs at least two URLs (or use --url)")
	}
	return hosts, first, nil
}

// parsePids reads --extra-pids: a comma-separated list of process ids.
func parsePids(list string) ([]int, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var pids []int
	for _, s := range strings.Split(list, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("--extra-pids: %q is not a process id", s)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// urlIndex is which of the --urls a client connects to: subscriber j to the (j mod n)-th,
// publishers to the first. 0 without --urls.
func (r *runner) urlIndex(c *client) int {
	n := len(r.cfg.hosts)
	if n < 2 || c.pub >= 0 {
		return 0
	}
	return c.id % n
}

// hostFor is the host:port a client connects to.
func (r *runner) hostFor(c *client) string {
	if len(r.cfg.hosts) < 2 {
		return r.cfg.host
	}
	return r.cfg.hosts[r.urlIndex(c)]
}

// recordByURL adds a subscriber's latency to its server's histogram (with --urls).
func (r *runner) recordByURL(c *client, us int64) {
	if r.byURL != nil {
		r.byURL[r.urlIndex(c)].record(c.id, us)
	}
}

// urlLatency is one server's share of a --urls run: its subscribers and their latencies.
type urlLatency struct {
	URL       string  `json:"url"`
	Subs      int     `json:"subs"` // connected subscribers
	LatencyMs latency `json:"latencyMs"`
}

// latencyByURL reports each server's subscribers and latencies, with --urls.
func (r *runner) latencyByURL(subs []*client) []urlLatency {
	if r.byURL == nil {
		return nil
	}
	out := make([]urlLatency, len(r.byURL))
	for _, c := range subs {
		i := r.urlIndex(c)
		out[i].Subs++
		if m := atomic.LoadInt64(&c.maxLat); m > r.byURL[i].max {
			r.byURL[i].max = m
		}
	}
	for i := range out {
		h := &r.byURL[i]
		u := url.URL{Scheme: "ws", Host: r.cfg.hosts[i], Path: r.cfg.path}
		out[i].URL = u.String()
		out[i].LatencyMs = latency{
			P50:  round(h.quantile(0.5)/1000, 3),
			P90:  round(h.quantile(0.9)/1000, 3),
			P99:  round(h.quantile(0.99)/1000, 3),
			P999: round(h.quantile(0.999)/1000, 3),
			Max:  round(float64(h.max)/1000, 3),
		}
	}
	return out
}

// pidCPU is the CPU another process (--extra-pids) used over the measured window.
type pidCPU struct {
	Pid    int `json:"pid"`
	CPUMs  F   `json:"cpuMs"`
	CPUPct F   `json:"cpuPct"` // 100 = one core
}

// extraCPU reads the CPU time of each --extra-pids process, in ms (NaN for one that is gone).
func extraCPU(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		out[i] = processCPUMs(pid)
	}
	return out
}

// extraReport turns two readings of extraCPU into the report's entries.
func extraReport(pids []int, before, after []float64, wallMs float64) []pidCPU {
	if len(pids) == 0 {
		return nil
	}
	out := make([]pidCPU, len(pids))
	for i, pid := range pids {
		d := after[i] - before[i]
		out[i] = pidCPU{Pid: pid, CPUMs: round(d, 1), CPUPct: round(d/wallMs*100, 1)}
		if math.IsNaN(d) {
			out[i].CPUPct = F(math.NaN())
		}
	}
	return out
}
