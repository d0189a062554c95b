package main

// The per-connection side of the load generator: dialing through gorilla/websocket, reading and
// checking what arrives (plain payloads, wshub.v1 frames), and writing masked client frames.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// base is the origin of every timestamp: payloads carry µs since base, and receive times are
// taken against it with the monotonic clock.
var base = time.Now()

func nowNs() int64 { return int64(time.Since(base)) }

// timedConn notes the time of every read from the kernel: the receive time of a message is the
// time of the read that completed it (the Deno load generator also takes the clock once a read).
type timedConn struct {
	net.Conn
	last int64
}

func (t *timedConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	t.last = nowNs()
	return n, err
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: 1 % wide buckets in µs, as bench/payload.ts, sharded to keep atomics cheap.

const (
	buckets   = 2200
	histShard = 16
)

var logStep = math.Log(1.01)

// edges[i] = 1.01^i: bucket i holds (edges[i-1], edges[i]]. log2Table maps the top 10 bits of a
// float's mantissa to log2(1 + m), for a first guess that edges then corrects (math.Log per
// delivery was a fifth of the load generator's CPU at millions of deliveries/s).
var (
	edges     [buckets]float64
	log2Table [1025]float64
)

func init() {
	for i := range edges {
		edges[i] = math.Pow(1.01, float64(i))
	}
	for i := range log2Table {
		log2Table[i] = math.Log2(1 + float64(i)/1024)
	}
}

type histogram struct {
	counts [histShard][buckets]uint32
	max    int64 // set at the end from the clients' maxLat
}

// bucketOf returns the smallest i with 1.01^i ≥ us (1 µs at least), capped at the last bucket.
func bucketOf(us int64) int {
	if us <= 1 {
		return 0
	}
	x := float64(us)
	bits := math.Float64bits(x)
	exp := int(bits>>52&0x7ff) - 1023
	frac := (bits >> 42) & 0x3ff
	log2 := float64(exp) + log2Table[frac]
	i := int(log2 * (math.Ln2 / logStep))
	if i >= buckets {
		return buckets - 1
	}
	if i < 0 {
		i = 0
	}
	for i < buckets-1 && x > edges[i] {
		i++
	}
	for i > 0 && x <= edges[i-1] {
		i--
	}
	return i
}

func (h *histogram) record(shard int, us int64) {
	atomic.AddUint32(&h.counts[shard%histShard][bucketOf(us)], 1)
}

// quantile returns the q-quantile in µs: the upper edge of its bucket, capped by the maximum.
func (h *histogram) quantile(q float64) float64 {
	var merged [buckets]uint64
	var total uint64
	for s := 0; s < histShard; s++ {
		for i := 0; i < buckets; i++ {
			c := uint64(atomic.LoadUint32(&h.counts[s][i]))
			merged[i] += c
			total += c
		}
	}
	if total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	max := float64(atomic.LoadInt64(&h.max))
	for i := 0; i < buckets; i++ {
		seen += merged[i]
		if seen >= rank {
			return math.Min(max, math.Pow(1.01, float64(i)))
		}
	}
	return max
}

// ---------------------------------------------------------------------------------------------
// Shared run state that the readers update.

type stats struct {
	received   int64 // subscriber deliveries
	echoes     int64 // deliveries to publishers (their own messages and, with several, the others')
	corrupt    int64
	misrouted  int64 // a payload from a publisher of another room
	outOfOrder int64 // a sequence number not above the last one from that publisher
	// offsetBreaks: `r` frames whose history offset does not follow the connection's last one
	offsetBreaks int64
	protoErr     int64
	ignored      int64 // framed: frames with a tag the scenario ignores (rooms mode)
	frames       int64
	lastNs       int64 // receive time of the last subscriber delivery
	hist         histogram
	// timeline counts subscriber deliveries per 10 ms of receive time since base.
	timeline []int64
	// latencyFromUs: deliveries of messages sent before this (µs since base) are not timed
	// (warm-up); set before the publishers start.
	latencyFromUs int64
}

func (s *stats) observeLast(ns int64) {
	for {
		m := atomic.LoadInt64(&s.lastNs)
		if ns <= m || atomic.CompareAndSwapInt64(&s.lastNs, m, ns) {
			return
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Connections.

type client struct {
	id    int
	room  int // index of the room (0 in fan-out mode)
	pub   int // global publisher index, -1 for a subscriber
	ws    *websocket.Conn
	tc    *timedConn
	wmu   sync.Mutex
	wbuf  []byte
	rnd   uint64 // xorshift state for masking keys
	ready chan struct{}
	// roomName is the room's name, as in the URL (`?room=<name>`) and in `r` frames.
	roomName string
	// lastSeq[k] is the last sequence number seen from the k-th publisher of this room.
	lastSeq []int64
	// lastOffset is the room's stream offset this connection is at (from the last `r` frame with
	// an offset, or a `J` frame's "offset"), -1 until one is known. Only its reader uses it.
	lastOffset int64
	// Publishers, with a window: deliveries of this publisher's messages to subscribers so far,
	// the count it waits for (0: not waiting), and its wake-up.
	delivered int64
	waitFor   int64
	ackWake   chan struct{}
	// Subscribers, with a window: deliveries from publisher pendPub not yet added to its count.
	pendPub int
	pendN   int64
	// maxLat is the largest latency this connection timed, µs (its reader's own).
	maxLat int64
	done   chan struct{}
	// closeCode: 0 while open or closed by us at the end; the code otherwise (1006 abnormal).
	closeCode int
	// noticeCode: the code of the server's close notice (framed), 0 when none came.
	noticeCode int
	// batchMax: the hello's "batch", the largest `B` frame the server takes from a client (framed;
	// 0 when the hello has none: then no `B` is sent). Set before ready is closed.
	batchMax int
}

type runner struct {
	cfg       *config
	st        *stats
	roomsMode bool // rooms scenario: unknown framed tags are ignored, not protocol errors
	rooms     int  // 1 in fan-out mode
	// pubsPerRoom publishers in every room; publisher g is in room g % rooms, slot g / rooms.
	pubsPerRoom int
	totalPubs   int
	shutdown    atomic.Bool
	// windowed: publishers keep at most cfg.window messages not yet delivered to every
	// subscriber of their room; pubs[g] is publisher g.
	windowed bool
	pubs     []*client
	bufPool  sync.Pool
	// byURL: with --urls, the subscribers' latencies per server (urls.go).
	byURL []histogram
}

var errNoHello = errors.New("no hello within 10 s")

// dial opens one connection, starts its reader, and (framed) waits for the hello.
func (r *runner) dial(ctx context.Context, c *client, path string, readBuf int) error {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   readBuf,
		WriteBufferSize:  256,
		WriteBufferPool:  &sync.Pool{}, // never used: every write below goes to the socket
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			conn, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c.tc = &timedConn{Conn: conn}
			return c.tc, nil
		},
	}
	if r.cfg.mode == "framed" {
		d.Subprotocols = []string{"wshub.v1"}
	}
	ws, resp, err := d.DialContext(ctx, "ws://"+r.hostFor(c)+path, http.Header{})
	if err != nil {
		if resp != nil {
			return errors.New("handshake refused: " + resp.Status)
		}
		return err
	}
	if r.cfg.mode == "framed" && ws.Subprotocol() != "wshub.v1" {
		ws.UnderlyingConn().Close()
		return errors.New("server did not echo wshub.v1")
	}
	c.ws = ws
	c.rnd = uint64(c.id)*0x9E3779B97F4A7C15 + uint64(time.Now().UnixNano()) | 1
	c.ready = make(chan struct{})
	c.done = make(chan struct{})
	c.ackWake = make(chan struct{}, 1)
	c.lastSeq = make([]int64, r.pubsPerRoom)
	for i := range c.lastSeq {
		c.lastSeq[i] = -1
	}
	c.lastOffset = -1
	// Control frames: answer pings through our own writer; a close frame just ends the reader.
	ws.SetPingHandler(func(data string) error {
		c.writeFrame(0xA, []byte(data))
		return nil
	})
	ws.SetCloseHandler(func(code int, text string) error { return nil })
	if r.cfg.mode == "plain" {
		close(c.ready)
	}
	go r.read(c)
	if r.cfg.mode == "framed" {
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-c.ready:
		case <-c.done:
			return errors.New("closed before the hello")
		case <-t.C:
			ws.UnderlyingConn().Close()
			return errNoHello
		case <-ctx.Done():
			ws.UnderlyingConn().Close()
			return ctx.Err()
		}
	}
	return nil
}

// read is a connection's reader goroutine: one message at a time, into a pooled buffer.
func (r *runner) read(c *client) {
	defer close(c.done)
	framed := r.cfg.mode == "framed"
	helloSeen := false
	for {
		op, rd, err := c.ws.NextReader()
		if err != nil {
			if !r.shutdown.Load() {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.closeCode = ce.Code
				} else {
					c.closeCode = 1006
				}
				if c.closeCode == 1006 && c.noticeCode != 0 {
					c.closeCode = c.noticeCode
				}
			}
			return
		}
		bp := r.bufPool.Get().(*[]byte)
		buf := (*bp)[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := rd.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				*bp = buf
				r.bufPool.Put(bp)
				if !r.shutdown.Load() {
					c.closeCode = 1006
				}
				return
			}
		}
		atomic.AddInt64(&r.st.frames, 1)
		nowUs := c.tc.last / 1000
		switch {
		case !framed:
			r.one(c, buf, nowUs)
		case len(buf) > 0 && buf[0] == 'h' && op == websocket.TextMessage:
			if !helloSeen {
				helloSeen = true
				if n, ok := jsonInt(buf[1:], `"batch":`); ok {
					c.batchMax = int(n)
				}
				close(c.ready)
			}
		default:
			r.counted(c, r.frame(c, op == websocket.TextMessage, buf, nowUs, false), nowUs)
		}
		*bp = buf
		r.bufPool.Put(bp)
	}
}

// frame handles one wshub.v1 frame from the server (not the hello), on its own or as an item
// of a `B` batch (nested), and returns how many good deliveries it carried, for counted:
//
//   - `m<text>` (text or binary): one payload;
//   - `r<len>:<room><offset>:<text>` (text or binary, rooms mode only): one payload published
//     to <room>, which must be the connection's own room (else misrouted); its offset, when it
//     has one (a room with history), must follow the connection's last one (else offsetBreaks);
//   - `J{…,"offset":N,…}` (rooms mode): a join answer or notice, with the room's position when
//     it keeps history: the next offset is N + 1; counted in ignored, as other frames of rooms;
//   - `b<len>:<text>…`: payloads; `B<len>:<frame>…`: whole frames, each handled here (not
//     nested: a batch inside a batch is a protocol error, as is a hello);
//   - `p<token>`: answered with `P<token>`; `P`: nothing;
//   - anything else (`J`, `L`, `u`, `e`, `c`…): ignored in rooms mode, a protocol error in fan-out
//     mode, where the server has no reason to send it.
func (r *runner) frame(c *client, text bool, f []byte, nowUs int64, nested bool) int {
	if len(f) == 0 {
		atomic.AddInt64(&r.st.protoErr, 1)
		return 0
	}
	switch {
	case f[0] == 'm':
		if r.payload(c, f[1:], nowUs) {
			return 1
		}
		return 0
	case f[0] == 'r' && r.roomsMode:
		return r.roomMessage(c, f[1:], nowUs)
	case !text:
		atomic.AddInt64(&r.st.protoErr, 1)
	case nested && (f[0] == 'b' || f[0] == 'B' || f[0] == 'h'):
		atomic.AddInt64(&r.st.protoErr, 1)
	case f[0] == 'b':
		return r.items(c, f[1:], nowUs, false)
	case f[0] == 'B':
		return r.items(c, f[1:], nowUs, true)
	case f[0] == 'p':
		// Answered off this goroutine: a publisher's writer may hold the socket for a while.
		go c.writeFrame(1, append([]byte{'P'}, f[1:]...))
	case f[0] == 'P':
	case f[0] == 'J' && r.roomsMode:
		if off, ok := jsonInt(f[1:], `"offset":`); ok {
			c.lastOffset = off
		}
		atomic.AddInt64(&r.st.ignored, 1)
	case f[0] == 'c':
		// A close notice, `c{"code":1008,…}`: its code is the one to report, since the close frame
		// that follows is often lost to a reset (docs/protocol.md, "Close notices").
		c.noticeCode = noticeCode(f[1:])
	case r.roomsMode:
		atomic.AddInt64(&r.st.ignored, 1)
	default:
		atomic.AddInt64(&r.st.protoErr, 1)
	}
	return 0
}

// noticeCode reads the code of a close notice's JSON body; 1006 when it has none.
func noticeCode(b []byte) int {
	const key = `"code":`
	i := strings.Index(string(b), key)
	if i < 0 {
		return 1006
	}
	code := 0
	for _, d := range b[i+len(key):] {
		if d < '0' || d > '9' || code > 9999 {
			break
		}
		code = code*10 + int(d-'0')
	}
	if code == 0 {
		return 1006
	}
	return code
}

// jsonInt reads the non-negative integer after `key` in a JSON body (no nesting, no spaces: the
// hub's frames); ok is false when the key is absent or not followed by digits.
func jsonInt(b []byte, key string) (int64, bool) {
	i := strings.Index(string(b), key)
	if i < 0 {
		return 0, false
	}
	v, digits := int64(0), 0
	for _, d := range b[i+len(key):] {
		if d < '0' || d > '9' || digits > 16 {
			break
		}
		v = v*10 + int64(d-'0')
		digits++
	}
	return v, digits > 0 && digits <= 16
}

// roomMessage checks the body of an `r` frame, `<len>:<room><offset>:<text>` (`len` the room
// name's length, 1–128 ASCII characters; `offset` decimal digits or nothing, at most 16), and
// its payload. Returns 1 for a good delivery. An offset that does not follow the connection's
// last one is counted in offsetBreaks (a gap: a publication missed or delivered without its
// offset; a repeat or a step back: one delivered twice or out of the stream's order); the
// delivery itself still counts when its payload is good (loss and order are checked on it).
func (r *runner) roomMessage(c *client, b []byte, nowUs int64) int {
	p, n := 0, 0
	for p < len(b) && p < 4 && b[p] >= '0' && b[p] <= '9' {
		n = n*10 + int(b[p]-'0')
		p++
	}
	if p == 0 || p >= len(b) || b[p] != ':' || n < 1 || n > 128 || p+1+n > len(b) {
		atomic.AddInt64(&r.st.protoErr, 1)
		return 0
	}
	room := b[p+1 : p+1+n]
	p += 1 + n
	start := p
	offset := int64(0)
	for p < len(b) && p-start <= 16 && b[p] >= '0' && b[p] <= '9' {
		offset = offset*10 + int64(b[p]-'0')
		p++
	}
	if p >= len(b) || b[p] != ':' || p-start > 16 {
		atomic.AddInt64(&r.st.protoErr, 1)
		return 0
	}
	if string(room) != c.roomName {
		atomic.AddInt64(&r.st.misrouted, 1)
		return 0
	}
	if p > start {
		if c.lastOffset >= 0 && offset != c.lastOffset+1 {
			atomic.AddInt64(&r.st.offsetBreaks, 1)
		}
		c.lastOffset = offset
	}
	if r.payload(c, b[p+1:], nowUs) {
		return 1
	}
	return 0
}

// batch books the payloads of a `b` frame body (without its tag).
func (r *runner) batch(c *client, b []byte, nowUs int64) {
	r.counted(c, r.items(c, b, nowUs, false), nowUs)
}

// items unpacks the body of a `b` frame (tagged false: each item a payload) or of a `B` frame
// (tagged: each item a whole frame): `<len>:<item>` repeated, `len` in UTF-16 code units. Returns
// the good deliveries, those before a malformed item included.
func (r *runner) items(c *client, b []byte, nowUs int64, tagged bool) int {
	ascii := isASCII(b) // then UTF-16 units are bytes
	p := 0
	n := 0
	for p < len(b) {
		units := 0
		digits := 0
		for p < len(b) && b[p] != ':' {
			d := b[p] - '0'
			if d > 9 || digits > 9 {
				atomic.AddInt64(&r.st.protoErr, 1)
				return n
			}
			units = units*10 + int(d)
			digits++
			p++
		}
		if p >= len(b) || digits == 0 {
			atomic.AddInt64(&r.st.protoErr, 1)
			return n
		}
		p++
		end := p + units
		if !ascii {
			end = advanceUTF16(b, p, units)
		}
		if end < 0 || end > len(b) {
			atomic.AddInt64(&r.st.protoErr, 1)
			return n
		}
		if tagged {
			n += r.frame(c, true, b[p:end], nowUs, true)
		} else if r.payload(c, b[p:end], nowUs) {
			n++
		}
		p = end
	}
	return n
}

// isASCII reports whether every byte of b is below 0x80 (32 bytes a step).
func isASCII(b []byte) bool {
	const hi = 0x8080808080808080
	i := 0
	for ; i+32 <= len(b); i += 32 {
		if (binary.LittleEndian.Uint64(b[i:])|binary.LittleEndian.Uint64(b[i+8:])|
			binary.LittleEndian.Uint64(b[i+16:])|binary.LittleEndian.Uint64(b[i+24:]))&hi != 0 {
			return false
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&hi != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= 0x80 {
			return false
		}
	}
	return true
}

// advanceUTF16 returns the byte offset just past `units` UTF-16 code units of UTF-8 text from
// `p`, or -1 when the text ends first or the count splits a surrogate pair.
func advanceUTF16(b []byte, p, units int) int {
	for units > 0 {
		// ASCII fast path, eight bytes at a time.
		for units >= 8 && p+8 <= len(b) &&
			binary.LittleEndian.Uint64(b[p:])&0x8080808080808080 == 0 {
			p += 8
			units -= 8
		}
		if units == 0 {
			break
		}
		if p >= len(b) {
			return -1
		}
		if b[p] < 0x80 {
			p++
			units--
			continue
		}
		r, size := utf8.DecodeRune(b[p:])
		if r >= 0x10000 {
			units -= 2
		} else {
			units--
		}
		p += size
	}
	if units < 0 {
		return -1
	}
	return p
}

// one handles a message that is one payload (plain, or the body of an `m` frame).
func (r *runner) one(c *client, b []byte, nowUs int64) {
	if r.payload(c, b, nowUs) {
		r.counted(c, 1, nowUs)
	}
}

// counted books `n` messages of one frame as received at `nowUs` (subscribers only).
func (r *runner) counted(c *client, n int, nowUs int64) {
	if c.pub >= 0 || n == 0 {
		return
	}
	if c.pendN > 0 {
		r.flushDelivered(c)
	}
	atomic.AddInt64(&r.st.received, int64(n))
	bin := int(nowUs / 10000)
	if bin < len(r.st.timeline) {
		atomic.AddInt64(&r.st.timeline[bin], int64(n))
	}
	r.st.observeLast(nowUs * 1000)
}

// flushDelivered adds a subscriber's pending deliveries to their publisher's count, and wakes
// the publisher when that reaches what it waits for.
func (r *runner) flushDelivered(c *client) {
	p := r.pubs[c.pendPub]
	d := atomic.AddInt64(&p.delivered, c.pendN)
	c.pendN = 0
	if w := atomic.LoadInt64(&p.waitFor); w > 0 && d >= w {
		select {
		case p.ackWake <- struct{}{}:
		default:
		}
	}
}

// payload checks one payload `<pub>:<seq>:<sent µs>:xxx…` of exactly `size` bytes and times it;
// true when it is a good delivery to a subscriber (to be counted).
func (r *runner) payload(c *client, b []byte, nowUs int64) bool {
	if len(b) != r.cfg.size || (b[len(b)-1] != 'x' && b[len(b)-1] != ':') {
		atomic.AddInt64(&r.st.corrupt, 1)
		return false
	}
	var f [3]int64
	p := 0
	for k := 0; k < 3; k++ {
		v := int64(0)
		start := p
		for p < len(b) && b[p] != ':' {
			d := b[p] - '0'
			if d > 9 {
				atomic.AddInt64(&r.st.corrupt, 1)
				return false
			}
			v = v*10 + int64(d)
			p++
		}
		if p == start || p >= len(b) {
			atomic.AddInt64(&r.st.corrupt, 1)
			return false
		}
		p++
		f[k] = v
	}
	g, seq, sentUs := int(f[0]), f[1], f[2]
	if g >= r.totalPubs || g%r.rooms != c.room {
		atomic.AddInt64(&r.st.misrouted, 1)
		return false
	}
	slot := g / r.rooms
	if seq <= c.lastSeq[slot] {
		atomic.AddInt64(&r.st.outOfOrder, 1)
	}
	c.lastSeq[slot] = seq
	if c.pub >= 0 {
		atomic.AddInt64(&r.st.echoes, 1)
		return false
	}
	if r.windowed {
		if c.pendN > 0 && c.pendPub != g {
			r.flushDelivered(c)
		}
		c.pendPub = g
		c.pendN++
	}
	if sentUs >= r.st.latencyFromUs {
		lat := nowUs - sentUs
		r.st.hist.record(c.id, lat)
		r.recordByURL(c, lat)
		if lat > c.maxLat {
			c.maxLat = lat
		}
	}
	return true
}

// ---------------------------------------------------------------------------------------------
// Writing: masked client frames straight to the socket, several per write.

// appendFrame appends one masked client frame (FIN set) to dst.
func (c *client) appendFrame(dst []byte, opcode byte, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x80|opcode)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 65536:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	c.rnd ^= c.rnd << 13
	c.rnd ^= c.rnd >> 7
	c.rnd ^= c.rnd << 17
	key := uint32(c.rnd)
	dst = binary.LittleEndian.AppendUint32(dst, key)
	start := len(dst)
	dst = append(dst, payload...)
	body := dst[start:]
	k8 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(body); i += 8 {
		binary.LittleEndian.PutUint64(body[i:], binary.LittleEndian.Uint64(body[i:])^k8)
	}
	for ; i < len(body); i++ {
		body[i] ^= byte(key >> (8 * (i & 3)))
	}
	return dst
}

// batcher coalesces the text frames a publisher has ready at once into `B` frames of at most max
// bytes (docs/protocol.md, "Batches of frames"), as the reference client does with what it sends
// in one turn; a frame left alone goes as itself. The frames are ASCII: UTF-16 units are bytes.
type batcher struct {
	max   int
	body  []byte // the `B` frame being built
	first int    // where its first frame starts in body, to send one alone
	n     int    // frames in body
}

// add puts frame f in the `B` being built, first appending that one to out (masked) when f
// would take it past max. Returns out.
func (w *batcher) add(c *client, out, f []byte) []byte {
	if w.n > 0 && len(w.body)+digits(len(f))+1+len(f) > w.max {
		out = w.flush(c, out)
	}
	if w.n == 0 {
		w.body = append(w.body[:0], 'B')
	}
	w.body = strconv.AppendInt(w.body, int64(len(f)), 10)
	w.body = append(w.body, ':')
	if w.n == 0 {
		w.first = len(w.body)
	}
	w.body = append(w.body, f...)
	w.n++
	return out
}

// flush appends what add holds to out as one masked frame: a `B`, or a frame alone as itself.
func (w *batcher) flush(c *client, out []byte) []byte {
	switch w.n {
	case 0:
		return out
	case 1:
		out = c.appendFrame(out, 1, w.body[w.first:])
	default:
		out = c.appendFrame(out, 1, w.body)
	}
	w.n = 0
	return out
}

// digits is the number of decimal digits of n ≥ 0.
func digits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// writeFrame sends one frame at once (pongs, `P` answers).
func (c *client) writeFrame(opcode byte, payload []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.appendFrame(c.wbuf[:0], opcode, payload)
	c.tc.Conn.Write(c.wbuf)
}

// writeRaw sends frames built with appendFrame; writes of one connection are serialized.
func (c *client) writeRaw(frames []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.tc.Conn.Write(frames)
	return err
}

// appendPayload appends the payload `<pub>:<seq>:<sent µs>:` padded with `x` to `size` bytes.
func appendPayload(dst []byte, pub int, seq int64, sentUs int64, size int) ([]byte, bool) {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(pub), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, sentUs, 10)
	dst = append(dst, ':')
	if len(dst)-start > size {
		return dst, false
	}
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst, true
}
