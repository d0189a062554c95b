// The presence flap and reconnect storm scenarios of issue 20 (bench/storms.ts runs them, and the
// hub server bench/storms_server.ts). Run as `loadgen --scenario=flap …` or `--scenario=storm …`;
// every other flag of the fan-out load generator is ignored then.
//
// flap: --members framed members (wshub.v1, identified `?u=m<i>`) join the room "flap" asking for
// presence diffs (a hub that does not know the field ignores it); --flappers clients alternate a
// join and a leave of "flap" at --flap-rate frames a second (inside the hub's default rate limit);
// one publisher sends --pub-rate messages a second, which the server publishes to "flap". After
// --warmup seconds, a window of --duration seconds measures: the presence frames (`u` and `U`, each
// one, inside `B` batches too) per member per second, the WebSocket messages carrying them, and the
// lateness of every publication at every member (its send time, in this process's clock, is in
// the payload).
//
// storm: --clients framed clients (`?u=s<i>`), each in 3 of --rooms rooms (client i in rooms i,
// i + rooms/3 and i + 2·rooms/3, modulo rooms), follow the rooms' streams by offset: a gap (an
// offset more than one past the last) or a duplicate (an offset not past it) is counted, and a
// client cut off reconnects like the reference client (full-jitter backoff from 500 ms doubling to
// 10 s; after a close notice with retryAfter: that, plus up to a fifth) and rejoins each room with
// `since` its last offset. After --steady seconds of publications it prints {"phase":"ready"}; the
// caller then restarts the hub. From the first disconnect it measures the time until every client
// has rejoined every room with `recovered: true`, prints {"phase":"recovered",…}, watches --settle
// seconds more, then prints the report.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type stormsConfig struct {
	scenario  string
	url       string
	members   int
	flappers  int
	flapRate  float64
	pubRate   float64
	warmup    float64
	duration  float64
	clients   int
	rooms     int
	steady    float64
	settle    float64
	serverPid int
	timeLimit float64
	conc      int
}

func parseStormsFlags(args []string) (*stormsConfig, error) {
	fs := flag.NewFlagSet("loadgen storms", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	c := &stormsConfig{}
	fs.StringVar(&c.scenario, "scenario", "", "flap | storm")
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:8080/ws", "hub URL")
	fs.IntVar(&c.members, "members", 500, "flap: members of the room")
	fs.IntVar(&c.flappers, "flappers", 1, "flap: clients joining and leaving")
	fs.Float64Var(&c.flapRate, "flap-rate", 95, "flap: join and leave frames a second per flapper")
	fs.Float64Var(&c.pubRate, "pub-rate", 20, "flap: publications a second")
	fs.Float64Var(&c.warmup, "warmup", 3, "flap: seconds before the measured window")
	fs.Float64Var(&c.duration, "duration", 10, "flap: seconds measured")
	fs.IntVar(&c.clients, "clients", 5000, "storm: clients")
	fs.IntVar(&c.rooms, "rooms", 500, "storm: rooms")
	fs.Float64Var(&c.steady, "steady", 5, "storm: seconds of publications before the restart")
	fs.Float64Var(&c.settle, "settle", 5, "storm: seconds watched after every client recovered")
	fs.IntVar(&c.serverPid, "server-pid", 0, "flap: the server's pid, for its CPU")
	fs.Float64Var(&c.timeLimit, "time-limit", 180, "seconds for the whole run")
	fs.IntVar(&c.conc, "concurrency", 64, "connection attempts in flight")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.scenario != "flap" && c.scenario != "storm" {
		return nil, errors.New("--scenario must be flap or storm")
	}
	return c, nil
}

// stormsMain runs a scenario of this file when the first argument asks for one.
func stormsMain(args []string) bool {
	if len(args) == 0 || !strings.HasPrefix(args[0], "--scenario=") {
		return false
	}
	var out any
	cfg, err := parseStormsFlags(args)
	if err == nil {
		if cfg.scenario == "flap" {
			out, err = runFlap(cfg)
		} else {
			out, err = runStorm(cfg)
		}
	}
	if err != nil {
		out = map[string]any{"ok": false, "error": err.Error()}
	}
	emit(out)
	return true
}

var stdoutMu sync.Mutex

func emit(v any) {
	b, _ := json.Marshal(v)
	stdoutMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	stdoutMu.Unlock()
}

// ---------------------------------------------------------------------------------------------
// A framed connection: dial, hello, writes under a lock, frames read one by one.

type conn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

var errClosedNotice = errors.New("closed by the server's notice")

func dialFramed(url string) (*conn, *http.Response, error) {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{"wshub.v1"},
		ReadBufferSize:   4096,
		WriteBufferSize:  1024,
	}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		return nil, resp, err
	}
	if ws.Subprotocol() != "wshub.v1" {
		ws.Close()
		return nil, resp, errors.New("the server did not echo wshub.v1")
	}
	return &conn{ws: ws}, resp, nil
}

func (c *conn) send(text string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(text))
}

// readAll reads the connection until it ends, answering pings, and calls each for every frame.
func (c *conn) readAll(each func(f []byte)) {
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		frames(msg, func(f []byte) {
			if f[0] == 'p' {
				c.send("P" + string(f[1:]))
			}
			each(f)
		})
	}
}

// frames calls each for every frame of a text message: the message itself, or each item of a
// `B` batch (a `b` batch carries application texts only, reported as `m` frames).
func frames(msg []byte, each func(f []byte)) {
	if len(msg) == 0 {
		return
	}
	switch msg[0] {
	case 'B', 'b':
		body := msg[1:]
		ascii := isASCII(body)
		p := 0
		for p < len(body) {
			units := 0
			for p < len(body) && body[p] != ':' {
				units = units*10 + int(body[p]-'0')
				p++
			}
			p++
			end := p + units
			if !ascii {
				end = advanceUTF16(body, p, units)
			}
			if end < 0 || end > len(body) {
				return
			}
			if msg[0] == 'b' {
				each(append([]byte{'m'}, body[p:end]...))
			} else {
				each(body[p:end])
			}
			p = end
		}
	default:
		each(msg)
	}
}

// roomFrame reads `r<len>:<room><offset>:<text>`: the room, its offset (-1: none) and the text.
func roomFrame(f []byte) (room string, offset int64, text []byte, ok bool) {
	colon := strings.IndexByte(string(f[1:smaller(len(f), 5)]), ':')
	if colon < 1 {
		return "", 0, nil, false
	}
	n, err := strconv.Atoi(string(f[1 : 1+colon]))
	start := 2 + colon
	if err != nil || start+n > len(f) {
		return "", 0, nil, false
	}
	room = string(f[start : start+n])
	rest := f[start+n:]
	end := strings.IndexByte(string(rest[:smaller(len(rest), 20)]), ':')
	if end < 0 {
		return "", 0, nil, false
	}
	offset = -1
	if end > 0 {
		offset, err = strconv.ParseInt(string(rest[:end]), 10, 64)
		if err != nil {
			return "", 0, nil, false
		}
	}
	return room, offset, rest[end+1:], true
}

func smaller(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// ---------------------------------------------------------------------------------------------
// flap

type flapReport struct {
	OK                      bool     `json:"ok"`
	Members                 int      `json:"members"`
	Flappers                int      `json:"flappers"`
	Seconds                 F        `json:"seconds"`
	PresenceFrames          int64    `json:"presenceFrames"`
	PresenceFramesPerMember F        `json:"presenceFramesPerMemberPerSecond"`
	PresenceMessages        int64    `json:"presenceMessages"`
	PresenceMessagesPerMem  F        `json:"presenceMessagesPerMemberPerSecond"`
	Deliveries              int64    `json:"deliveries"`
	Expected                int64    `json:"expected"`
	P50Ms                   F        `json:"p50Ms"`
	P99Ms                   F        `json:"p99Ms"`
	MaxMs                   F        `json:"maxMs"`
	FlapFrames              int64    `json:"flapFrames"`
	FlapRefused             int64    `json:"flapRefused"`
	ServerCPU               F        `json:"serverCpu"`
	LoadgenCPU              F        `json:"loadgenCpu"`
	Closed                  int64    `json:"closed"`
	Errors                  []string `json:"errors,omitempty"`
}

func runFlap(cfg *stormsConfig) (*flapReport, error) {
	start := time.Now()
	us := func() int64 { return int64(time.Since(start) / time.Microsecond) }
	var measuring atomic.Bool
	var presenceFrames, presenceMessages, deliveries, flapFrames, flapRefused, closed int64
	var lateness []int64
	var latMu sync.Mutex
	var errsMu sync.Mutex
	var errs []string
	fail := func(err error) {
		errsMu.Lock()
		if len(errs) < 10 {
			errs = append(errs, err.Error())
		}
		errsMu.Unlock()
	}
	// Members: join, then read.
	members := make([]*conn, cfg.members)
	joined := make(chan struct{}, cfg.members)
	sem := make(chan struct{}, cfg.conc)
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, err := dialFramed(fmt.Sprintf("%s?u=m%d", cfg.url, i))
			if err != nil {
				fail(err)
				return
			}
			members[i] = c
			go func() {
				var mine []int64
				seen := false
				for {
					_, msg, err := c.ws.ReadMessage()
					if err != nil {
						if len(mine) > 0 {
							latMu.Lock()
							lateness = append(lateness, mine...)
							latMu.Unlock()
						}
						if measuring.Load() {
							atomic.AddInt64(&closed, 1)
						}
						return
					}
					now := us()
					counting := measuring.Load()
					carried := false
					frames(msg, func(f []byte) {
						switch f[0] {
						case 'h':
							c.send(`j{"id":1,"room":"flap","presence":"diffs"}`)
						case 'J':
							if !seen {
								seen = true
								joined <- struct{}{}
							}
						case 'p':
							c.send("P" + string(f[1:]))
						case 'u', 'U':
							if counting {
								atomic.AddInt64(&presenceFrames, 1)
								carried = true
							}
						case 'r':
							_, _, text, ok := roomFrame(f)
							if !ok || !counting {
								return
							}
							parts := strings.SplitN(string(text), ":", 3)
							if len(parts) < 2 {
								return
							}
							sent, err := strconv.ParseInt(parts[1], 10, 64)
							if err == nil {
								mine = append(mine, now-sent)
								atomic.AddInt64(&deliveries, 1)
							}
						}
					})
					if carried {
						atomic.AddInt64(&presenceMessages, 1)
					}
				}
			}()
		}(i)
	}
	wg.Wait()
	deadline := time.After(30 * time.Second)
	for n := 0; n < cfg.members; n++ {
		select {
		case <-joined:
		case <-deadline:
			return nil, fmt.Errorf("only %d of %d members joined", n, cfg.members)
		}
	}
	stop := make(chan struct{})
	var loops sync.WaitGroup
	// Flappers: a join, then a leave, … at flapRate frames a second.
	for i := 0; i < cfg.flappers; i++ {
		c, _, err := dialFramed(fmt.Sprintf("%s?u=f%d", cfg.url, i))
		if err != nil {
			return nil, err
		}
		go c.readAll(func(f []byte) {
			if f[0] == 'J' && strings.Contains(string(f), `"error":"rate_limited"`) && measuring.Load() {
				atomic.AddInt64(&flapRefused, 1)
			}
		})
		loops.Add(1)
		go func(c *conn, i int) {
			defer loops.Done()
			defer c.ws.Close()
			every := time.Duration(float64(time.Second) / cfg.flapRate)
			next := time.Now().Add(time.Duration(i) * every / time.Duration(cfg.flappers))
			for id := 1; ; id++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(every)
				tag := "j"
				if id%2 == 0 {
					tag = "l"
				}
				if c.send(fmt.Sprintf(`%s{"id":%d,"room":"flap"}`, tag, id)) != nil {
					return
				}
				if measuring.Load() {
					atomic.AddInt64(&flapFrames, 1)
				}
			}
		}(c, i)
	}
	// The publisher.
	pub, _, err := dialFramed(cfg.url + "?u=publisher")
	if err != nil {
		return nil, err
	}
	go pub.readAll(func([]byte) {})
	var published int64
	loops.Add(1)
	go func() {
		defer loops.Done()
		every := time.Duration(float64(time.Second) / cfg.pubRate)
		next := time.Now()
		pad := strings.Repeat("x", 48)
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Until(next)):
			}
			next = next.Add(every)
			if measuring.Load() {
				atomic.AddInt64(&published, 1)
			}
			pub.send(fmt.Sprintf("m%d:%d:%s", seq, us(), pad))
		}
	}()
	time.Sleep(time.Duration(cfg.warmup * float64(time.Second)))
	cpu0 := processCPUMs(cfg.serverPid)
	self0u, self0s := selfCPU()
	t0 := time.Now()
	measuring.Store(true)
	time.Sleep(time.Duration(cfg.duration * float64(time.Second)))
	measuring.Store(false)
	seconds := time.Since(t0).Seconds()
	cpu1 := processCPUMs(cfg.serverPid)
	self1u, self1s := selfCPU()
	close(stop)
	loops.Wait()
	pub.ws.Close()
	for _, c := range members {
		if c != nil {
			c.ws.Close()
		}
	}
	time.Sleep(200 * time.Millisecond) // the readers hand in their lateness
	latMu.Lock()
	sort.Slice(lateness, func(i, j int) bool { return lateness[i] < lateness[j] })
	q := func(p float64) F {
		if len(lateness) == 0 {
			return 0
		}
		return round(float64(lateness[int(p*float64(len(lateness)-1))])/1000, 2)
	}
	rep := &flapReport{
		OK:                      len(errs) == 0,
		Members:                 cfg.members,
		Flappers:                cfg.flappers,
		Seconds:                 round(seconds, 2),
		PresenceFrames:          presenceFrames,
		PresenceFramesPerMember: round(float64(presenceFrames)/float64(cfg.members)/seconds, 2),
		PresenceMessages:        presenceMessages,
		PresenceMessagesPerMem:  round(float64(presenceMessages)/float64(cfg.members)/seconds, 2),
		Deliveries:              deliveries,
		Expected:                published * int64(cfg.members),
		P50Ms:                   q(0.5),
		P99Ms:                   q(0.99),
		MaxMs:                   q(1),
		FlapFrames:              flapFrames,
		FlapRefused:             flapRefused,
		ServerCPU:               round((cpu1-cpu0)/seconds/10, 1),
		LoadgenCPU:              round(((self1u+self1s)-(self0u+self0s))/seconds/10, 1),
		Closed:                  closed,
		Errors:                  errs,
	}
	latMu.Unlock()
	return rep, nil
}

// ---------------------------------------------------------------------------------------------
// storm

type stormRoom struct {
	name      string
	epoch     string
	offset    int64 // -1: not joined yet
	recovered bool  // rejoined with recovered: true since the storm began
}

type stormClient struct {
	id      int
	user    string
	mu      sync.Mutex
	rooms   []*stormRoom
	attempt int
	nextID  int
	// joinedAt: when it had every room recovered after the storm (0: not yet).
	joinedAt time.Duration
}

type stormReport struct {
	OK           bool     `json:"ok"`
	Clients      int      `json:"clients"`
	Rooms        int      `json:"rooms"`
	RecoverMs    F        `json:"recoverMs"`
	P50Ms        F        `json:"p50Ms"`
	P99Ms        F        `json:"p99Ms"`
	Recovered    int64    `json:"recovered"`
	Unrecovered  int64    `json:"unrecovered"`
	Reasons      []string `json:"reasons,omitempty"`
	Gaps         int64    `json:"gaps"`
	Duplicates   int64    `json:"duplicates"`
	Deliveries   int64    `json:"deliveries"`
	Attempts     int64    `json:"attempts"`
	Refused      int64    `json:"refused"`
	Paced        int64    `json:"paced"`
	JoinErrors   int64    `json:"joinErrors"`
	EpochChanges int64    `json:"epochChanges"`
	LoadgenCPU   F        `json:"loadgenCpu"`
	Errors       []string `json:"errors,omitempty"`
}

type stormState struct {
	cfg                                       *stormsConfig
	start                                     time.Time
	stormAt                                   atomic.Int64 // ns since start of the first disconnect (0: none yet)
	gaps, dups, deliveries, attempts, refused atomic.Int64
	paced, joinErrors, epochChanges           atomic.Int64
	recovered, unrecovered                    atomic.Int64
	pending                                   atomic.Int64 // rooms not yet recovered since the storm
	initial                                   sync.WaitGroup
	reasonsMu                                 sync.Mutex
	reasons                                   map[string]int
	errsMu                                    sync.Mutex
	errs                                      []string
	allDone                                   chan struct{}
	doneOnce                                  sync.Once
	stopping                                  atomic.Bool
}

func (s *stormState) fail(err error) {
	s.errsMu.Lock()
	if len(s.errs) < 10 {
		s.errs = append(s.errs, err.Error())
	}
	s.errsMu.Unlock()
}

func runStorm(cfg *stormsConfig) (*stormReport, error) {
	s := &stormState{cfg: cfg, start: time.Now(), reasons: map[string]int{}, allDone: make(chan struct{})}
	clients := make([]*stormClient, cfg.clients)
	third := cfg.rooms / 3
	sem := make(chan struct{}, cfg.conc)
	for i := range clients {
		c := &stormClient{id: i, user: fmt.Sprintf("s%d", i)}
		for _, r := range []int{i % cfg.rooms, (i + third) % cfg.rooms, (i + 2*third) % cfg.rooms} {
			c.rooms = append(c.rooms, &stormRoom{name: fmt.Sprintf("s%d", r), offset: -1})
		}
		clients[i] = c
		s.initial.Add(1)
		sem <- struct{}{}
		go func(c *stormClient) {
			s.session(c, func() { <-sem })
		}(c)
	}
	waited := make(chan struct{})
	go func() { s.initial.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		return nil, errors.New("the clients did not all join within 60 s")
	}
	time.Sleep(time.Duration(cfg.steady * float64(time.Second)))
	s.pending.Store(int64(cfg.clients * 3))
	emit(map[string]any{"phase": "ready"})
	self0u, self0s := selfCPU()
	limit := time.After(time.Duration(cfg.timeLimit * float64(time.Second)))
	select {
	case <-s.allDone:
	case <-limit:
		s.fail(fmt.Errorf("%d rooms not recovered within the time limit", s.pending.Load()))
	}
	stormAt := time.Duration(s.stormAt.Load())
	var took []float64
	for _, c := range clients {
		c.mu.Lock()
		if c.joinedAt > 0 {
			took = append(took, float64(c.joinedAt-stormAt)/float64(time.Millisecond))
		}
		c.mu.Unlock()
	}
	sort.Float64s(took)
	q := func(p float64) F {
		if len(took) == 0 {
			return 0
		}
		return round(took[int(p*float64(len(took)-1))], 1)
	}
	emit(map[string]any{"phase": "recovered", "recoverMs": q(1)})
	time.Sleep(time.Duration(cfg.settle * float64(time.Second)))
	self1u, self1s := selfCPU()
	s.stopping.Store(true)
	var reasons []string
	s.reasonsMu.Lock()
	for reason, n := range s.reasons {
		reasons = append(reasons, fmt.Sprintf("%s: %d", reason, n))
	}
	s.reasonsMu.Unlock()
	sort.Strings(reasons)
	rep := &stormReport{
		OK:           len(s.errs) == 0 && s.gaps.Load() == 0 && s.dups.Load() == 0 && s.unrecovered.Load() == 0,
		Clients:      cfg.clients,
		Rooms:        cfg.rooms,
		RecoverMs:    q(1),
		P50Ms:        q(0.5),
		P99Ms:        q(0.99),
		Recovered:    s.recovered.Load(),
		Unrecovered:  s.unrecovered.Load(),
		Reasons:      reasons,
		Gaps:         s.gaps.Load(),
		Duplicates:   s.dups.Load(),
		Deliveries:   s.deliveries.Load(),
		Attempts:     s.attempts.Load(),
		Refused:      s.refused.Load(),
		Paced:        s.paced.Load(),
		JoinErrors:   s.joinErrors.Load(),
		EpochChanges: s.epochChanges.Load(),
		LoadgenCPU:   round(((self1u+self1s)-(self0u+self0s))/time.Since(s.start.Add(stormAt)).Seconds()/10, 1),
		Errors:       s.errs,
	}
	return rep, nil
}

// session keeps a client connected: connect, rejoin, read until the connection ends, wait, again.
func (s *stormState) session(c *stormClient, connected func()) {
	first := true
	for !s.stopping.Load() {
		s.attempts.Add(1)
		ws, resp, err := dialFramed(fmt.Sprintf("%s?u=%s", s.cfg.url, c.user))
		if first {
			connected()
		}
		var retryAfter int64 = -1
		if err == nil {
			retryAfter = s.serve(c, ws, first)
		} else if resp != nil {
			s.refused.Add(1)
		}
		if first && err != nil {
			s.fail(err)
			s.initial.Done()
			return
		}
		first = false
		if s.stopping.Load() {
			return
		}
		if s.stormAt.Load() == 0 {
			s.stormAt.CompareAndSwap(0, int64(time.Since(s.start)))
		}
		var delay time.Duration
		if retryAfter >= 0 {
			delay = time.Duration(float64(retryAfter)*(1+rand.Float64()/5)) * time.Millisecond
		} else {
			cap := 500 * time.Millisecond << c.attempt
			if cap > 10*time.Second || cap <= 0 {
				cap = 10 * time.Second
			}
			c.attempt++
			delay = time.Duration(rand.Int63n(int64(cap)))
		}
		time.Sleep(delay)
	}
}

// serve reads one connection until it ends; returns the retryAfter of its close notice (-1: none).
func (s *stormState) serve(c *stormClient, ws *conn, first bool) int64 {
	defer ws.ws.Close()
	var retryAfter int64 = -1
	hello := false
	joins := 0
	for {
		ws.ws.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, msg, err := ws.ws.ReadMessage()
		if err != nil {
			return retryAfter
		}
		ended := false
		frames(msg, func(f []byte) {
			if ended {
				return
			}
			switch f[0] {
			case 'h':
				hello = true
				c.mu.Lock()
				c.attempt = 0
				for _, room := range c.rooms {
					c.nextID++
					join := map[string]any{"id": c.nextID, "room": room.name, "presence": "none"}
					if room.offset >= 0 {
						join["since"] = map[string]any{"offset": room.offset, "epoch": room.epoch}
					}
					b, _ := json.Marshal(join)
					ws.send("j" + string(b))
				}
				c.mu.Unlock()
			case 'c':
				var notice struct {
					Code       int    `json:"code"`
					RetryAfter *int64 `json:"retryAfter"`
				}
				json.Unmarshal(f[1:], &notice)
				if notice.RetryAfter != nil {
					retryAfter = *notice.RetryAfter
					s.paced.Add(1)
				}
				ended = true
			case 'p':
				ws.send("P" + string(f[1:]))
			case 'J':
				if s.joined(c, f[1:]) && first {
					joins++
					if joins == len(c.rooms) {
						s.initial.Done()
					}
				}
			case 'r':
				name, offset, _, ok := roomFrame(f)
				if ok {
					s.published(c, name, offset)
				}
			}
		})
		_ = hello
		if ended {
			return retryAfter
		}
	}
}

// joined takes a join answer (or a position notice); returns whether it answered a join.
func (s *stormState) joined(c *stormClient, body []byte) bool {
	var a struct {
		ID        *int    `json:"id"`
		Room      string  `json:"room"`
		Error     string  `json:"error"`
		Epoch     *string `json:"epoch"`
		Offset    int64   `json:"offset"`
		Recovered *bool   `json:"recovered"`
		Reason    string  `json:"reason"`
	}
	if json.Unmarshal(body, &a) != nil {
		s.fail(errors.New("malformed J: " + string(body)))
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var room *stormRoom
	for _, r := range c.rooms {
		if r.name == a.Room {
			room = r
		}
	}
	if room == nil {
		return false
	}
	if a.Error != "" {
		s.joinErrors.Add(1)
		s.fail(errors.New("join refused: " + string(body)))
		return true
	}
	if a.Epoch == nil {
		return a.ID != nil
	}
	if a.ID == nil {
		// A position notice: an offset left out (same epoch), or a new epoch.
		if *a.Epoch == room.epoch {
			s.advance(room, a.Offset, false)
		} else {
			if room.epoch != "" { // not the first publication of a new stream: a stream lost
				s.epochChanges.Add(1)
			}
			room.epoch, room.offset = *a.Epoch, a.Offset
		}
		return false
	}
	storming := s.stormAt.Load() != 0
	switch {
	case a.Recovered != nil && *a.Recovered:
		room.epoch = *a.Epoch
		s.recovered.Add(1)
		if storming && !room.recovered {
			room.recovered = true
			if s.pending.Add(-1) == 0 {
				s.doneOnce.Do(func() { close(s.allDone) })
			}
			done := true
			for _, r := range c.rooms {
				done = done && r.recovered
			}
			if done {
				c.joinedAt = time.Since(s.start)
			}
		}
	case a.Recovered != nil:
		s.unrecovered.Add(1)
		s.reasonsMu.Lock()
		s.reasons[a.Reason]++
		s.reasonsMu.Unlock()
		room.epoch, room.offset = *a.Epoch, a.Offset
	default:
		room.epoch, room.offset = *a.Epoch, a.Offset
	}
	return true
}

func (s *stormState) published(c *stormClient, name string, offset int64) {
	if offset < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, room := range c.rooms {
		if room.name == name {
			s.advance(room, offset, true)
		}
	}
}

// advance counts an offset delivered in a room: the next one, a duplicate, or past a gap.
func (s *stormState) advance(room *stormRoom, offset int64, publication bool) {
	switch {
	case offset == room.offset+1:
		room.offset = offset
		if publication {
			s.deliveries.Add(1)
		}
	case offset <= room.offset:
		if publication {
			s.dups.Add(1)
		}
	default:
		s.gaps.Add(1)
		room.offset = offset
	}
}
