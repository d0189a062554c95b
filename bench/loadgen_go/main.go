// Command loadgen_go is the fan-out and rooms load generator of the wshub benchmarks, in Go with
// gorilla/websocket, one goroutine per connection. It prints the JSON report of the Deno load
// generator (bench/loadgen.ts; same shape, a few extra fields), so that bench/run.ts can use
// either. Per plain frame it costs about what bench/loadgen.ts costs (the kernel's receive path,
// ACKs included, is most of it); per message of a coalesced `b` frame, 3–4× less.
//
// Build in GOPATH mode against Debian's golang-github-gorilla-websocket-dev (bench/run.ts does
// this once per run, see bench/loadgen_go.ts):
//
//	GO111MODULE=off GOPATH=/tmp/gopath:/usr/share/gocode go build -o /tmp/loadgen ./bench/loadgen_go
//
// Scenarios:
//
//   - fan-out (default): --subs subscribers and --pubs publishers on one URL; every message goes
//     to everyone (bench/raw_server.ts, bench/fanout_server.ts).
//   - rooms (--rooms=R > 0): subscribers spread evenly over R rooms (subscriber j in room j % R),
//     --pubs publishers per room; each connects to URL?room=<r>, and a message reaches the
//     connections of its room only (bench/raw_rooms_server.ts, bench/rooms_server.ts). 10,000
//     connections in 1,000 rooms of 10 with one publisher each: --rooms=1000 --subs=9000 --pubs=1.
//
// Flags (`--name=value`, the first ones as bench/loadgen.ts):
//
//   - url (ws://127.0.0.1:8080/ws); mode plain | framed (wshub.v1; Socket.IO: bench/loadgen.ts)
//   - urls (none): instead of url, several servers of one cluster, comma-separated ws:// URLs
//     that differ only in host:port: subscriber j connects to the (j mod n)-th, publishers to the
//     first; the report adds each server's subscribers and latencies (latencyByUrl)
//   - extra-pids (none): comma-separated pids (other servers, Redis) whose CPU over the same
//     window as the server's is reported in extraCpu
//   - subs (1000): subscribers, all rooms; pubs (1): publishers, per room in rooms mode;
//     rooms (0: fan-out)
//   - size (128): payload bytes; messages (200): per publisher; rate (0: unpaced): msg/s per
//     publisher; unpaced, a publisher writes batch (32) frames at a time
//   - duration (0: off): seconds of sending instead of a message count; warmup (0): seconds at the
//     start whose messages are not timed and whose deliveries are not in deliveries/s
//   - window: at most this many of a publisher's messages in flight (sent, not yet delivered to
//     every subscriber of its room); 0 for none. Default 0, but with an unpaced --duration 256,
//     and at most 100,000 deliveries outstanding over all publishers.
//   - server-pid: read the server's CPU time and RSS from /proc; idle (0: off): seconds to hold
//     the connections open without sending, measuring the server's RSS and idle CPU
//   - drain (5): seconds without progress before what is missing counts as lost; time-limit
//     (120): seconds for the whole run; concurrency (64): connection attempts in flight;
//     read-buffer (16384, 4096 with --idle): bytes per connection; workers: ignored
//     (GOMAXPROCS decides, by default the CPUs that taskset allows)
//
// A payload is `<publisher>:<seq>:<send time µs>:xxx…`, exactly `size` ASCII bytes. Each
// delivery is checked for length and shape, for its room (misrouted) and for order per
// publisher (outOfOrder); latency is the time of the socket read that completed the message less
// the send time. Framed clients read `m` frames and `b` batches, and in rooms mode `r` frames
// (whose room must be the connection's own, else misrouted) and `B` batches of whole frames
// (docs/protocol.md); the other frames of rooms (`J`, `L`, `u`) and `e` notices are counted in
// ignoredFrames, and the code of a `c` close notice is reported as the connection's close code.
// A room with history puts its stream's offset in `r` frames (`r<len>:<room><offset>:<text>`):
// on each connection an offset must follow the last one (or the offset of a `J` frame, the
// room's position when it joined or its stream started again), else offsetBreaks, which, like
// misrouted and outOfOrder, makes the run not ok. A framed publisher whose hello announces
// "batch" sends the frames it has ready at once (k of them, as its window and pace allow) as
// one `B` frame (several when they exceed "batch" bytes), as the reference client sends what it
// sends in one turn; without it, and in plain mode, one frame each. The load generator's own
// CPU is getrusage(RUSAGE_SELF) over the run; it is flagged saturated at ≥ 90 % of min(allowed
// cores, GOMAXPROCS) cores.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	rawURL      string
	host        string
	path        string
	query       url.Values
	mode        string
	subs        int
	pubs        int
	rooms       int
	size        int
	messages    int
	rate        float64
	duration    float64
	warmup      float64
	window      int
	batch       int
	serverPid   int
	idle        float64
	drain       float64
	timeLimit   float64
	concurrency int
	readBuffer  int
	urls        string   // --urls as given
	hosts       []string // their host:port, when there are several
	extraPids   string
	pids        []int
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("loadgen_go", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	c := &config{}
	fs.StringVar(&c.rawURL, "url", "ws://127.0.0.1:8080/ws", "server URL")
	fs.StringVar(&c.mode, "mode", "plain", "plain | framed")
	fs.IntVar(&c.subs, "subs", 1000, "subscribers (all rooms)")
	fs.IntVar(&c.pubs, "pubs", 1, "publishers (per room in rooms mode)")
	fs.IntVar(&c.rooms, "rooms", 0, "rooms (0: fan-out to everyone)")
	fs.IntVar(&c.size, "size", 128, "payload bytes")
	fs.IntVar(&c.messages, "messages", 200, "messages per publisher")
	fs.Float64Var(&c.rate, "rate", 0, "msg/s per publisher, 0 unpaced")
	fs.Float64Var(&c.duration, "duration", 0, "seconds of sending (instead of --messages)")
	fs.Float64Var(&c.warmup, "warmup", 0, "seconds not measured at the start")
	fs.IntVar(&c.window, "window", -1, "messages in flight per publisher, 0 unlimited")
	fs.IntVar(&c.batch, "batch", 32, "frames per write, unpaced")
	fs.IntVar(&c.serverPid, "server-pid", 0, "server pid for /proc")
	fs.Float64Var(&c.idle, "idle", 0, "idle seconds (memory and idle CPU)")
	fs.Float64Var(&c.drain, "drain", 5, "seconds without progress before counting losses")
	fs.Float64Var(&c.timeLimit, "time-limit", 120, "seconds for the whole run")
	fs.IntVar(&c.concurrency, "concurrency", 64, "connection attempts in flight")
	fs.IntVar(&c.readBuffer, "read-buffer", 0, "read buffer bytes per connection")
	fs.Int("workers", 0, "ignored (GOMAXPROCS decides)")
	fs.StringVar(&c.urls, "urls", "", "several servers: subscribers spread over them, publishers on the first")
	fs.StringVar(&c.extraPids, "extra-pids", "", "pids whose CPU is reported too")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.urls != "" {
		hosts, first, err := parseURLs(c.urls)
		if err != nil {
			return nil, err
		}
		c.hosts, c.rawURL = hosts, first
	}
	pids, err := parsePids(c.extraPids)
	if err != nil {
		return nil, err
	}
	c.pids = pids
	u, err := url.Parse(c.rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, errors.New("--url must be ws://")
	}
	c.host = u.Host
	c.path = u.EscapedPath()
	if c.path == "" {
		c.path = "/"
	}
	c.query = u.Query()
	switch {
	case c.mode != "plain" && c.mode != "framed":
		return nil, errors.New("--mode must be plain or framed (Socket.IO: use bench/loadgen.ts)")
	case c.subs < 1 || c.pubs < 1 || c.rooms < 0:
		return nil, errors.New("--subs and --pubs must be ≥ 1, --rooms ≥ 0")
	case c.rooms > c.subs:
		return nil, errors.New("--rooms must not exceed --subs")
	case c.batch < 1 || c.concurrency < 1:
		return nil, errors.New("--batch and --concurrency must be ≥ 1")
	case c.timeLimit <= 0:
		return nil, errors.New("--time-limit must be > 0")
	}
	if c.idle > 0 {
		c.messages = 0
	}
	if c.readBuffer <= 0 {
		c.readBuffer = 16384
		if c.idle > 0 {
			c.readBuffer = 4096
		}
	}
	return c, nil
}

// ---------------------------------------------------------------------------------------------
// The report: bench/loadgen.ts's `Report`, plus fields marked "go".

// F is a float that encodes NaN and ±Inf as null, as JSON.stringify does.
type F float64

func (f F) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, x, 'f', -1, 64), nil
}

func round(x float64, d int) F {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return F(x)
	}
	p := math.Pow(10, float64(d))
	return F(math.Round(x*p) / p)
}

type latency struct {
	P50  F `json:"p50"`
	P90  F `json:"p90"`
	P99  F `json:"p99"`
	P999 F `json:"p999"`
	Max  F `json:"max"`
}

type loadgenInfo struct {
	Impl         string `json:"impl"` // go
	Workers      int    `json:"workers"`
	Cores        int    `json:"cores"`
	Gomaxprocs   int    `json:"gomaxprocs"` // go
	CPUMs        F      `json:"cpuMs"`
	UserMs       F      `json:"userMs"`   // go
	SystemMs     F      `json:"systemMs"` // go
	CPUPct       F      `json:"cpuPct"`
	ThreadCPUPct []F    `json:"threadCpuPct"`
	Saturated    bool   `json:"saturated"`
}

type serverInfo struct {
	Pid           int `json:"pid"`
	CPUMs         F   `json:"cpuMs"`
	CPUPct        F   `json:"cpuPct"`
	UsPerDelivery F   `json:"usPerDelivery"`
	RssKiBBefore  F   `json:"rssKiBBefore"`
	RssKiBAfter   F   `json:"rssKiBAfter"`
}

type idleInfo struct {
	Seconds         float64 `json:"seconds"`
	RssKiBConnected F       `json:"rssKiBConnected"`
	RssKiBPerConn   F       `json:"rssKiBPerConn"`
	ServerCPUPct    F       `json:"serverCpuPct"`
	ServerCPUMs     F       `json:"serverCpuMs"`
	StillOpen       int     `json:"stillOpen"`
}

type report struct {
	OK             bool           `json:"ok"`
	Error          string         `json:"error,omitempty"`
	Mode           string         `json:"mode"`
	URL            string         `json:"url"`
	Subs           int            `json:"subs"`
	Publishers     int            `json:"publishers"` // go: all rooms
	Rooms          int            `json:"rooms"`      // go: 0 = fan-out
	Connected      int            `json:"connected"`
	ConnectFailed  int            `json:"connectFailed"`
	Messages       int64          `json:"messages"` // messages published, all publishers
	Size           int            `json:"size"`
	Rate           float64        `json:"rate"`
	Window         int            `json:"window"` // go
	Expected       int64          `json:"expected"`
	Received       int64          `json:"received"`
	Lost           int64          `json:"lost"`
	Corrupt        int64          `json:"corrupt"`
	Misrouted      int64          `json:"misrouted"`    // go
	OutOfOrder     int64          `json:"outOfOrder"`   // go
	OffsetBreaks   int64          `json:"offsetBreaks"` // go: r frames whose offset does not follow
	ProtocolErrors int64          `json:"protocolErrors"`
	IgnoredFrames  int64          `json:"ignoredFrames"` // go
	Echoes         int64          `json:"echoes"`
	Frames         int64          `json:"frames"` // go: data messages read, all connections
	DurationMs     F              `json:"durationMs"`
	MeasuredMs     F              `json:"measuredMs"` // go: the window deliveries/s is taken over
	DeliveriesPerS int64          `json:"deliveriesPerSec"`
	LatencyMs      latency        `json:"latencyMs"`
	ConnectMs      F              `json:"connectMs"`
	ClosedDuring   int            `json:"closedDuringRun"`
	CloseCodes     map[string]int `json:"closeCodes"`
	Loadgen        loadgenInfo    `json:"loadgen"`
	OtherCPUPct    *F             `json:"otherCpuPct,omitempty"`
	URLs           []string       `json:"urls,omitempty"`         // go: --urls
	LatencyByURL   []urlLatency   `json:"latencyByUrl,omitempty"` // go: with --urls
	ExtraCPU       []pidCPU       `json:"extraCpu,omitempty"`     // go: --extra-pids
	Server         *serverInfo    `json:"server,omitempty"`
	Idle           *idleInfo      `json:"idle,omitempty"`
}

// ---------------------------------------------------------------------------------------------
// /proc and getrusage.

func selfCPU() (user, sys float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN(), math.NaN()
	}
	ms := func(t syscall.Timeval) float64 { return float64(t.Sec)*1e3 + float64(t.Usec)/1e3 }
	return ms(ru.Utime), ms(ru.Stime)
}

// allowedCores counts the CPUs of this process's affinity mask.
func allowedCores() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return runtime.NumCPU()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Cpus_allowed_list:") {
			continue
		}
		n := 0
		for _, part := range strings.Split(strings.TrimSpace(line[len("Cpus_allowed_list:"):]), ",") {
			lo, hi, found := strings.Cut(part, "-")
			a, _ := strconv.Atoi(lo)
			if !found {
				n++
				continue
			}
			z, _ := strconv.Atoi(hi)
			n += z - a + 1
		}
		if n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// threadTicks maps each thread of this process to its utime + stime in clock ticks (1/100 s).
func threadTicks() map[string]float64 {
	out := map[string]float64{}
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return out
	}
	for _, e := range entries {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			k, _ := strconv.ParseFloat(f[12], 64)
			out[e.Name()] = u + k
		}
	}
	return out
}

// processCPUMs sums /proc/<pid>/task/*/schedstat (ns of CPU) over every thread of pid.
func processCPUMs(pid int) float64 {
	if pid <= 0 {
		return math.NaN()
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return math.NaN()
	}
	ns := 0.0
	for _, e := range entries {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			ns += v
		}
	}
	return ns / 1e6
}

func rssKiB(pid int) float64 {
	if pid <= 0 {
		return math.NaN()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
	}
	return math.NaN()
}

// machineBusyMs is user + nice + system of the whole machine (/proc/stat), in ms.
func machineBusyMs() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return math.NaN()
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 4 {
		return math.NaN()
	}
	t := 0.0
	for _, x := range f[1:4] {
		v, _ := strconv.ParseFloat(x, 64)
		t += v
	}
	return t * 10
}

// ---------------------------------------------------------------------------------------------
// The run.

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func (r *runner) pathFor(room int) string {
	if !r.roomsMode {
		if len(r.cfg.query) == 0 {
			return r.cfg.path
		}
		return r.cfg.path + "?" + r.cfg.query.Encode()
	}
	q := url.Values{}
	for k, v := range r.cfg.query {
		q[k] = v
	}
	q.Set("room", roomName(room))
	return r.cfg.path + "?" + q.Encode()
}

// roomName is the name of the i-th room: its index in decimal.
func roomName(i int) string { return strconv.Itoa(i) }

// connectAll connects clients with cfg.concurrency attempts in flight; returns the connected
// ones and the failures.
func (r *runner) connectAll(ctx context.Context, list []*client) ([]*client, int, error) {
	var next int64 = -1
	var mu sync.Mutex
	var ok []*client
	failed := 0
	var firstErr error
	var wg sync.WaitGroup
	workers := r.cfg.concurrency
	if workers > len(list) {
		workers = len(list)
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(len(list)) || ctx.Err() != nil {
					return
				}
				c := list[i]
				err := r.dial(ctx, c, r.pathFor(c.room), r.cfg.readBuffer)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					ok = append(ok, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if rest := len(list) - len(ok) - failed; rest > 0 {
		failed += rest
		if firstErr == nil {
			firstErr = errors.New("time limit reached while connecting")
		}
	}
	sort.Slice(ok, func(a, b int) bool { return ok[a].id < ok[b].id })
	return ok, failed, firstErr
}

// publish sends one publisher's messages: `messages` of them (count mode) or until `stopAt`,
// paced at cfg.rate or unpaced (cfg.batch frames per write), never more than cfg.window in
// flight when a window is set. Returns how many it sent.
func (r *runner) publish(c *client, start, stopAt time.Time, roomSubs int64, sent *int64) {
	cfg := r.cfg
	countMode := cfg.duration <= 0
	framed := cfg.mode == "framed" // a framed client sends `m<payload>`
	// Framed, to a hub whose hello announces "batch": the k frames ready at once go as `B` frames.
	batched := framed && c.batchMax > 0
	b := batcher{max: c.batchMax}
	var buf []byte
	var payload []byte
	var seq int64
	var interval time.Duration
	phase := start
	if cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.rate)
		// Stagger the publishers over one interval, so that they do not all send at once.
		phase = start.Add(time.Duration(int64(interval) * int64(c.pub) / int64(r.totalPubs)))
	}
	c.tc.Conn.SetWriteDeadline(stopAt.Add(30 * time.Second))
	for {
		if countMode && seq >= int64(cfg.messages) {
			return
		}
		now := time.Now()
		if !now.Before(stopAt) || r.shutdown.Load() {
			return
		}
		k := int64(cfg.batch)
		if interval > 0 {
			if now.Before(phase) {
				sleepUntil(phase)
				continue
			}
			due := int64(now.Sub(phase)/interval) + 1
			if due <= seq {
				next := phase.Add(time.Duration(seq) * interval)
				if next.After(stopAt) {
					next = stopAt
				}
				sleepUntil(next)
				continue
			}
			k = due - seq
			if k > 256 {
				k = 256
			}
		}
		if cfg.window > 0 && roomSubs > 0 {
			// In flight: sent, and not yet delivered to every subscriber of the room.
			inflight := seq - atomic.LoadInt64(&c.delivered)/roomSubs
			if inflight >= int64(cfg.window) {
				atomic.StoreInt64(&c.waitFor, (seq-int64(cfg.window)+1)*roomSubs)
				if atomic.LoadInt64(&c.delivered) < atomic.LoadInt64(&c.waitFor) {
					t := time.NewTimer(50 * time.Millisecond)
					select {
					case <-c.ackWake:
					case <-c.done:
					case <-t.C:
					}
					t.Stop()
				}
				atomic.StoreInt64(&c.waitFor, 0)
				continue
			}
			if k > int64(cfg.window)-inflight {
				k = int64(cfg.window) - inflight
			}
		}
		if countMode && k > int64(cfg.messages)-seq {
			k = int64(cfg.messages) - seq
		}
		buf = buf[:0]
		for i := int64(0); i < k; i++ {
			payload = payload[:0]
			if framed {
				payload = append(payload, 'm')
			}
			payload, _ = appendPayload(payload, c.pub, seq+i, nowNs()/1000, cfg.size)
			if batched {
				buf = b.add(c, buf, payload)
			} else {
				buf = c.appendFrame(buf, 1, payload)
			}
		}
		if batched {
			buf = b.flush(c, buf)
		}
		if err := c.writeRaw(buf); err != nil {
			return
		}
		seq += k
		atomic.StoreInt64(sent, seq)
	}
}

func run(cfg *config) (*report, error) {
	tStart := time.Now()
	deadline := tStart.Add(time.Duration(cfg.timeLimit * float64(time.Second)))
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	rooms := cfg.rooms
	if rooms == 0 {
		rooms = 1
	}
	r := &runner{
		cfg:         cfg,
		st:          &stats{},
		roomsMode:   cfg.rooms > 0,
		rooms:       rooms,
		pubsPerRoom: cfg.pubs,
		totalPubs:   cfg.pubs * rooms,
	}
	r.bufPool.New = func() any { b := make([]byte, 0, 4096); return &b }
	if len(cfg.hosts) > 1 {
		r.byURL = make([]histogram, len(cfg.hosts))
	}
	bins := int((time.Since(base).Seconds() + cfg.timeLimit + 5) * 100)
	r.st.timeline = make([]int64, bins)

	// The payload header must fit.
	if _, fits := appendPayload(nil, r.totalPubs, 1e9, int64((cfg.timeLimit+60)*1e6), cfg.size); !fits {
		return nil, fmt.Errorf("--size %d is too small for the payload header", cfg.size)
	}

	pid := cfg.serverPid
	rssBefore := rssKiB(pid)
	subs := make([]*client, cfg.subs)
	for j := range subs {
		subs[j] = &client{id: j, room: j % rooms, roomName: roomName(j % rooms), pub: -1}
	}
	pubs := make([]*client, r.totalPubs)
	for g := range pubs {
		pubs[g] = &client{id: cfg.subs + g, room: g % rooms, roomName: roomName(g % rooms), pub: g}
	}
	r.pubs = pubs
	if cfg.window < 0 {
		// Default: none when counting messages; with --duration unpaced, 256 messages per
		// publisher but at most 100,000 deliveries outstanding in all.
		cfg.window = 0
		if cfg.duration > 0 && cfg.rate <= 0 {
			perRoom := (cfg.subs + rooms - 1) / rooms
			cfg.window = 100000 / (r.totalPubs * perRoom)
			if cfg.window > 256 {
				cfg.window = 256
			}
			if cfg.window < 1 {
				cfg.window = 1
			}
		}
	}
	r.windowed = cfg.window > 0

	t0 := time.Now()
	connectedSubs, failed, connErr := r.connectAll(ctx, subs)
	if len(connectedSubs) == 0 {
		return nil, fmt.Errorf("no subscriber connected: %v", connErr)
	}
	connectedPubs, pubFailed, pubErr := r.connectAll(ctx, pubs)
	if pubFailed > 0 {
		r.closeAll(connectedSubs, connectedPubs)
		return nil, fmt.Errorf("%d publishers failed to connect: %v", pubFailed, pubErr)
	}
	connectMs := float64(time.Since(t0).Microseconds()) / 1000
	all := append(append([]*client{}, connectedSubs...), connectedPubs...)
	subsInRoom := make([]int64, rooms)
	for _, c := range connectedSubs {
		subsInRoom[c.room]++
	}

	rep := &report{
		Mode:          cfg.mode,
		URL:           cfg.rawURL,
		Subs:          cfg.subs,
		Publishers:    r.totalPubs,
		Rooms:         cfg.rooms,
		Connected:     len(connectedSubs),
		ConnectFailed: failed,
		Size:          cfg.size,
		Rate:          cfg.rate,
		Window:        cfg.window,
		ConnectMs:     round(connectMs, 1),
		CloseCodes:    map[string]int{},
		LatencyMs:     latency{F(math.NaN()), F(math.NaN()), F(math.NaN()), F(math.NaN()), F(math.NaN())},
	}
	if connErr != nil {
		rep.Error = connErr.Error()
	}
	gmp := runtime.GOMAXPROCS(0)
	cores := allowedCores()
	rep.Loadgen = loadgenInfo{Impl: "go", Workers: gmp, Cores: cores, Gomaxprocs: gmp, ThreadCPUPct: []F{}}

	closedDuring := func() int {
		n := 0
		for _, c := range all {
			select {
			case <-c.done:
				if c.closeCode != 0 {
					n++
					rep.CloseCodes[strconv.Itoa(c.closeCode)]++
				}
			default:
			}
		}
		return n
	}

	if cfg.idle > 0 {
		time.Sleep(time.Second)
		rssConnected := rssKiB(pid)
		cpu0 := processCPUMs(pid)
		w0 := time.Now()
		time.Sleep(time.Duration(cfg.idle * float64(time.Second)))
		cpu1 := processCPUMs(pid)
		wall := float64(time.Since(w0).Microseconds()) / 1000
		rep.ClosedDuring = closedDuring()
		r.closeAll(connectedSubs, connectedPubs)
		rep.OK = failed == 0 && rep.ClosedDuring == 0
		rep.Idle = &idleInfo{
			Seconds:         cfg.idle,
			RssKiBConnected: F(rssConnected),
			RssKiBPerConn:   round((rssConnected-rssBefore)/float64(len(connectedSubs)), 2),
			ServerCPUPct:    round((cpu1-cpu0)/wall*100, 2),
			ServerCPUMs:     round(cpu1-cpu0, 1),
			StillOpen:       len(connectedSubs) - rep.ClosedDuring,
		}
		if pid > 0 {
			rep.Server = &serverInfo{
				Pid: pid, CPUMs: round(cpu1-cpu0, 1), CPUPct: round((cpu1-cpu0)/wall*100, 2),
				UsPerDelivery: F(math.NaN()), RssKiBBefore: F(rssBefore), RssKiBAfter: F(rssConnected),
			}
		}
		return rep, nil
	}

	time.Sleep(300 * time.Millisecond)

	// Publish.
	u0, s0 := selfCPU()
	th0 := threadTicks()
	server0 := processCPUMs(pid)
	extra0 := extraCPU(cfg.pids)
	busy0 := machineBusyMs()
	start := time.Now()
	startUs := int64(start.Sub(base) / time.Microsecond)
	warmupUs := int64(cfg.warmup * 1e6)
	r.st.latencyFromUs = startUs + warmupUs
	stopAt := deadline
	if cfg.duration > 0 {
		if d := start.Add(time.Duration(cfg.duration * float64(time.Second))); d.Before(stopAt) {
			stopAt = d
		}
	}
	sent := make([]int64, len(connectedPubs))
	var pwg sync.WaitGroup
	for i, c := range connectedPubs {
		pwg.Add(1)
		go func(i int, c *client) {
			defer pwg.Done()
			r.publish(c, start, stopAt, subsInRoom[c.room], &sent[i])
		}(i, c)
	}
	pwg.Wait()
	sendEndUs := int64(time.Since(base) / time.Microsecond)
	var expected, published int64
	for i, c := range connectedPubs {
		s := atomic.LoadInt64(&sent[i])
		published += s
		expected += s * subsInRoom[c.room]
	}

	// Wait for the deliveries: all of them, no progress for `drain`, or the time limit.
	last := int64(-1)
	lastChange := time.Now()
	drain := time.Duration(cfg.drain * float64(time.Second))
	for time.Now().Before(deadline) {
		got := atomic.LoadInt64(&r.st.received)
		if got >= expected {
			break
		}
		if got != last {
			last = got
			lastChange = time.Now()
		} else if time.Since(lastChange) > drain {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	server1 := processCPUMs(pid)
	extra1 := extraCPU(cfg.pids)
	busy1 := machineBusyMs()
	u1, s1 := selfCPU()
	th1 := threadTicks()
	wallMs := float64(time.Since(base)/time.Microsecond-time.Duration(startUs)) / 1000
	rep.ClosedDuring = closedDuring()
	r.closeAll(connectedSubs, connectedPubs)
	st := r.st
	// Let the readers finish (their connections are closed) before reading what they counted.
	readersDone := time.After(5 * time.Second)
	for _, c := range all {
		select {
		case <-c.done:
			if c.maxLat > st.hist.max {
				st.hist.max = c.maxLat
			}
		case <-readersDone:
		}
	}

	received := atomic.LoadInt64(&st.received)
	lastUs := atomic.LoadInt64(&st.lastNs) / 1000
	if lastUs < startUs {
		lastUs = startUs
	}
	durationMs := float64(lastUs-startUs) / 1000
	// deliveries/s: over first send → last delivery; with a warm-up or a duration, over the whole
	// 10 ms bins between the end of the warm-up and the end of sending (duration) or the last
	// delivery (count).
	dps := float64(received) / (durationMs / 1000)
	measuredMs := durationMs
	if cfg.warmup > 0 || cfg.duration > 0 {
		wEnd := lastUs
		if cfg.duration > 0 {
			wEnd = sendEndUs
		}
		b0 := int((startUs + warmupUs + 9999) / 10000)
		b1 := int(wEnd / 10000)
		if b1 > len(st.timeline) {
			b1 = len(st.timeline)
		}
		n := int64(0)
		for b := b0; b < b1; b++ {
			n += atomic.LoadInt64(&st.timeline[b])
		}
		measuredMs = float64(b1-b0) * 10
		dps = float64(n) / (measuredMs / 1000)
		if b1 <= b0 {
			dps = math.NaN()
		}
	}
	userMs, sysMs := u1-u0, s1-s0
	cpuMs := userMs + sysMs
	cpuPct := cpuMs / wallMs * 100
	var threads []float64
	for tid, t := range th1 {
		if d := (t - th0[tid]) * 10 / wallMs * 100; d >= 1 {
			threads = append(threads, d)
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(threads)))
	capacity := cores
	if gmp < capacity {
		capacity = gmp
	}
	serverCPU := server1 - server0
	echoes := atomic.LoadInt64(&st.echoes)

	rep.Messages = published
	rep.Expected = expected
	rep.Received = received
	rep.Lost = expected - received
	rep.Corrupt = atomic.LoadInt64(&st.corrupt)
	rep.Misrouted = atomic.LoadInt64(&st.misrouted)
	rep.OutOfOrder = atomic.LoadInt64(&st.outOfOrder)
	rep.OffsetBreaks = atomic.LoadInt64(&st.offsetBreaks)
	rep.ProtocolErrors = atomic.LoadInt64(&st.protoErr)
	rep.IgnoredFrames = atomic.LoadInt64(&st.ignored)
	rep.Echoes = echoes
	rep.Frames = atomic.LoadInt64(&st.frames)
	rep.DurationMs = round(durationMs, 3)
	rep.MeasuredMs = round(measuredMs, 3)
	if !math.IsNaN(dps) && !math.IsInf(dps, 0) {
		rep.DeliveriesPerS = int64(math.Round(dps))
	}
	rep.LatencyMs = latency{
		P50:  round(st.hist.quantile(0.5)/1000, 3),
		P90:  round(st.hist.quantile(0.9)/1000, 3),
		P99:  round(st.hist.quantile(0.99)/1000, 3),
		P999: round(st.hist.quantile(0.999)/1000, 3),
		Max:  round(float64(atomic.LoadInt64(&st.hist.max))/1000, 3),
	}
	rep.LatencyByURL = r.latencyByURL(connectedSubs)
	rep.ExtraCPU = extraReport(cfg.pids, extra0, extra1, wallMs)
	if len(cfg.hosts) > 1 {
		rep.URLs = strings.Split(cfg.urls, ",")
	}
	for _, t := range threads {
		rep.Loadgen.ThreadCPUPct = append(rep.Loadgen.ThreadCPUPct, round(t, 1))
	}
	rep.Loadgen.CPUMs = round(cpuMs, 1)
	rep.Loadgen.UserMs = round(userMs, 1)
	rep.Loadgen.SystemMs = round(sysMs, 1)
	rep.Loadgen.CPUPct = round(cpuPct, 1)
	rep.Loadgen.Saturated = cpuPct >= 90*float64(capacity)
	rep.OK = rep.Lost == 0 && rep.Corrupt == 0 && rep.ProtocolErrors == 0 && failed == 0 &&
		rep.Misrouted == 0 && rep.OutOfOrder == 0 && rep.OffsetBreaks == 0
	if pid > 0 {
		other := round(math.Max(0, busy1-busy0-serverCPU-cpuMs)/wallMs*100, 1)
		rep.OtherCPUPct = &other
		rep.Server = &serverInfo{
			Pid:           pid,
			CPUMs:         round(serverCPU, 1),
			CPUPct:        round(serverCPU/wallMs*100, 1),
			UsPerDelivery: round(serverCPU*1000/float64(received+echoes), 3),
			RssKiBBefore:  F(rssBefore),
			RssKiBAfter:   F(rssKiB(pid)),
		}
	}
	return rep, nil
}

// closeAll ends every connection at once (no closing handshake), as bench/loadgen.ts does.
func (r *runner) closeAll(lists ...[]*client) {
	r.shutdown.Store(true)
	for _, l := range lists {
		for _, c := range l {
			c.tc.Conn.Close()
		}
	}
}

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if stormsMain(os.Args[1:]) { // the scenarios of issue 20 (storms.go)
		return
	}
	var out any
	cfg, err := parseFlags(os.Args[1:])
	if err == nil {
		var rep *report
		rep, err = run(cfg)
		if err == nil {
			out = rep
		}
	}
	if err != nil {
		out = map[string]any{"ok": false, "error": err.Error()}
	}
	b, _ := json.Marshal(out)
	os.Stdout.Write(append(b, '\n'))
}
