package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func TestAdvanceUTF16(t *testing.T) {
	for _, s := range []string{"", "hello", "héllo", "€uro", "a😀b", "😀😀", "0123456789abcdefé", "日本語テキスト"} {
		b := []byte(s + "tail")
		if got := advanceUTF16(b, 0, utf16Len(s)); got != len(s) {
			t.Errorf("%q: got %d, want %d", s, got, len(s))
		}
	}
	if got := advanceUTF16([]byte("ab"), 0, 3); got != -1 {
		t.Errorf("past the end: got %d", got)
	}
	if got := advanceUTF16([]byte("😀"), 0, 1); got != -1 {
		t.Errorf("half a surrogate pair: got %d", got)
	}
}

func testRunner(size int) (*runner, *client) {
	r := &runner{cfg: &config{size: size, mode: "framed"}, st: &stats{timeline: make([]int64, 1000)}, rooms: 1, pubsPerRoom: 1, totalPubs: 1}
	c := &client{pub: -1, lastSeq: []int64{-1}, lastOffset: -1}
	return r, c
}

func TestBatch(t *testing.T) {
	const size = 40
	r, c := testRunner(size)
	p0, _ := appendPayload(nil, 0, 0, 5, size)
	p1, _ := appendPayload(nil, 0, 1, 6, size)
	odd := "héllo 😀 wörld"
	var b []byte
	for _, m := range []string{string(p0), odd, string(p1)} {
		b = strconv.AppendInt(b, int64(utf16Len(m)), 10)
		b = append(b, ':')
		b = append(b, m...)
	}
	r.batch(c, b, 10)
	if r.st.received != 2 || r.st.corrupt != 1 || r.st.protoErr != 0 || r.st.outOfOrder != 0 {
		t.Fatalf("received %d corrupt %d protocol errors %d out of order %d",
			r.st.received, r.st.corrupt, r.st.protoErr, r.st.outOfOrder)
	}
	r.batch(c, []byte("5:ab"), 10)
	if r.st.protoErr != 1 {
		t.Fatalf("truncated batch: protocol errors %d", r.st.protoErr)
	}
	r.batch(c, append([]byte("40:"), p0...), 10)
	if r.st.outOfOrder != 1 {
		t.Fatalf("repeated sequence number: out of order %d", r.st.outOfOrder)
	}
}

// item is one `<len>:<text>` item of a b or B batch, len in UTF-16 units.
func item(text string) string { return strconv.Itoa(utf16Len(text)) + ":" + text }

func roomsRunner(size int) (*runner, *client) {
	r, c := testRunner(size)
	r.roomsMode, r.rooms, r.totalPubs = true, 3, 3
	c.room, c.roomName = 1, "1" // publisher 1 is in room 1
	return r, c
}

func TestRoomFrames(t *testing.T) {
	const size = 40
	r, c := roomsRunner(size)
	p0, _ := appendPayload(nil, 1, 0, 5, size)
	p1, _ := appendPayload(nil, 1, 1, 6, size)
	p2, _ := appendPayload(nil, 1, 2, 7, size)
	// On its own, without and with a history offset, text and binary.
	if n := r.frame(c, true, []byte("r1:1:"+string(p0)), 10, false); n != 1 {
		t.Fatalf("r frame: %d deliveries", n)
	}
	if n := r.frame(c, false, []byte("r1:142:"+string(p1)), 10, false); n != 1 {
		t.Fatalf("binary r frame with an offset: %d deliveries", n)
	}
	// In a B batch, between frames to ignore: a join answer, presence with non-ASCII text (its
	// length counts UTF-16 units), an m frame; a ping is answered, not counted.
	u := `u{"room":"1","user":"é😀","event":"join"}`
	b := "B" + item(`J{"room":"1"}`) + item(u) + item("r1:1:"+string(p2)) + item("P1")
	if n := r.frame(c, true, []byte(b), 10, false); n != 1 {
		t.Fatalf("B batch: %d deliveries", n)
	}
	if r.st.protoErr != 0 || r.st.misrouted != 0 || r.st.corrupt != 0 || r.st.outOfOrder != 0 {
		t.Fatalf("protocol errors %d misrouted %d corrupt %d out of order %d",
			r.st.protoErr, r.st.misrouted, r.st.corrupt, r.st.outOfOrder)
	}
	if r.st.ignored != 2 {
		t.Fatalf("ignored %d, want 2 (J, u)", r.st.ignored)
	}
	// Labelled with another room; a payload from another room's publisher.
	p3, _ := appendPayload(nil, 1, 3, 8, size)
	if n := r.frame(c, true, []byte("r1:2:"+string(p3)), 10, false); n != 0 || r.st.misrouted != 1 {
		t.Fatalf("r frame of another room: %d deliveries, misrouted %d", n, r.st.misrouted)
	}
	q0, _ := appendPayload(nil, 2, 0, 8, size)
	if n := r.frame(c, true, []byte("r1:1:"+string(q0)), 10, false); n != 0 || r.st.misrouted != 2 {
		t.Fatalf("payload of another room: %d deliveries, misrouted %d", n, r.st.misrouted)
	}
	// Malformed: each one protocol error, nothing delivered.
	for i, f := range []string{
		"r", "r1", "r:1:" + string(p3), "r0::" + string(p3), "r9:1:" + string(p3),
		"r1:1", "r1:1x:" + string(p3), "r1:1" + strings.Repeat("7", 17) + ":" + string(p3),
		"B" + item("B"+item("m"+string(p3))), "B" + item("b"+item(string(p3))), "B" + item(`h{}`),
		"B" + item(""), "B3:r1",
	} {
		before := r.st.protoErr
		if n := r.frame(c, true, []byte(f), 10, false); n != 0 || r.st.protoErr != before+1 {
			t.Fatalf("malformed %d %q: %d deliveries, protocol errors +%d", i, f, n, r.st.protoErr-before)
		}
	}
	// The good items of a batch before a malformed one still count.
	p4, _ := appendPayload(nil, 1, 4, 9, size)
	if n := r.frame(c, true, []byte("B"+item("r1:1:"+string(p4))+"9:r"), 10, false); n != 1 {
		t.Fatalf("batch cut short: %d deliveries", n)
	}
	// r frames in a fan-out run are protocol errors.
	f, fc := testRunner(size)
	if n := f.frame(fc, true, []byte("r1:0:"+string(p0)), 10, false); n != 0 || f.st.protoErr != 1 {
		t.Fatalf("r frame in fan-out mode: %d deliveries, protocol errors %d", n, f.st.protoErr)
	}
}

// A room with history puts its stream's offset between the room's name and the colon: its digits
// are not the payload's, and on each connection an offset follows the last one.
func TestRoomFrameOffsets(t *testing.T) {
	const size = 40
	r, c := roomsRunner(size)
	p := func(seq int64) string {
		b, _ := appendPayload(nil, 1, seq, 5+seq, size)
		return string(b)
	}
	check := func(what string, n, want int, breaks int64) {
		t.Helper()
		if n != want || r.st.offsetBreaks != breaks || r.st.protoErr != 0 || r.st.corrupt != 0 ||
			r.st.misrouted != 0 || r.st.outOfOrder != 0 {
			t.Fatalf("%s: %d deliveries (want %d), offset breaks %d (want %d), protocol errors %d, "+
				"corrupt %d, misrouted %d, out of order %d", what, n, want, r.st.offsetBreaks, breaks,
				r.st.protoErr, r.st.corrupt, r.st.misrouted, r.st.outOfOrder)
		}
	}
	// Room "1", offsets 1, 2, 11: the payload starts with "1:" too, and must still be whole.
	check("offset 1", r.frame(c, true, []byte("r1:11:"+p(0)), 10, false), 1, 0)
	check("offset 2", r.frame(c, true, []byte("r1:12:"+p(1)), 10, false), 1, 0)
	if c.lastOffset != 2 {
		t.Fatalf("last offset %d, want 2", c.lastOffset)
	}
	// A B batch of consecutive offsets (3, 4), binary with an offset (5).
	b := "B" + item("r1:13:"+p(2)) + item("r1:14:"+p(3))
	check("batch of offsets 3, 4", r.frame(c, true, []byte(b), 10, false), 2, 0)
	check("binary, offset 5", r.frame(c, false, []byte("r1:15:"+p(4)), 10, false), 1, 0)
	// A gap (7 after 5), then a repeat (7 again, a new payload): one break each; the deliveries
	// still count (their payloads are good).
	check("gap", r.frame(c, true, []byte("r1:17:"+p(5)), 10, false), 1, 1)
	check("repeat", r.frame(c, true, []byte("r1:17:"+p(6)), 10, false), 1, 2)
	// A frame without an offset (a room without history) neither checks nor moves the position.
	check("no offset", r.frame(c, true, []byte("r1:1:"+p(7)), 10, false), 1, 2)
	check("offset 8", r.frame(c, true, []byte("r1:18:"+p(8)), 10, false), 1, 2)
	// A J frame gives the position: the stream started again at 40 (or the client joined there).
	j := `J{"room":"1","epoch":"9f2c41d0a1b2c3d4","offset":40}`
	check("J", r.frame(c, true, []byte(j), 10, false), 0, 2)
	check("offset 41 after J at 40", r.frame(c, true, []byte("r1:141:"+p(9)), 10, false), 1, 2)
	check("J and 41 in a batch", r.frame(c, true, []byte("B"+item(j)+item("r1:141:"+p(10))), 10, false), 1, 2)
	// A J without an offset (a room without history, a refusal) leaves the position alone.
	check("J without offset", r.frame(c, true, []byte(`J{"id":3,"room":"1"}`), 10, false), 0, 2)
	check("offset 42", r.frame(c, true, []byte("r1:142:"+p(11)), 10, false), 1, 2)
	// A two-digit room name followed by offset digits: the length says where the name ends.
	r2, c2 := testRunner(size)
	r2.roomsMode, r2.rooms, r2.totalPubs = true, 20, 20
	c2.room, c2.roomName = 12, "12"
	q, _ := appendPayload(nil, 12, 0, 5, size)
	if n := r2.frame(c2, true, []byte("r2:1234:"+string(q)), 10, false); n != 1 || c2.lastOffset != 34 ||
		r2.st.misrouted != 0 || r2.st.protoErr != 0 || r2.st.corrupt != 0 {
		t.Fatalf("room 12 offset 34: %d deliveries, last offset %d, misrouted %d, protocol errors %d, corrupt %d",
			n, c2.lastOffset, r2.st.misrouted, r2.st.protoErr, r2.st.corrupt)
	}
	// Sixteen digits are an offset; seventeen are a protocol error (TestRoomFrames).
	big := strings.Repeat("9", 16)
	if n := r2.frame(c2, true, []byte("r2:12"+big+":"+string(q)), 10, false); n != 1 ||
		c2.lastOffset != 9999999999999999 || r2.st.protoErr != 0 {
		t.Fatalf("16-digit offset: %d deliveries, last offset %d, protocol errors %d", n, c2.lastOffset, r2.st.protoErr)
	}
}

func TestJSONInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`{"room":"1","epoch":"e","offset":41}`, 41, true},
		{`{"room":"1","offset":0,"epoch":""}`, 0, true},
		{`{"room":"1"}`, 0, false},
		{`{"offset":}`, 0, false},
		{`{"offset":"4"}`, 0, false},
	} {
		if got, ok := jsonInt([]byte(tc.in), `"offset":`); got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %d %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCloseNotice(t *testing.T) {
	r, c := testRunner(40)
	notice := `c{"code":1008,"reason":"rate limit: more than 100 messages or 1048576 bytes a second"}`
	if n := r.frame(c, true, []byte(notice), 10, false); n != 0 || r.st.protoErr != 0 {
		t.Fatalf("close notice: %d deliveries, protocol errors %d", n, r.st.protoErr)
	}
	if c.noticeCode != 1008 {
		t.Fatalf("notice code %d, want 1008", c.noticeCode)
	}
	if got := noticeCode([]byte(`{"reason":"x"}`)); got != 1006 {
		t.Fatalf("a notice without a code: %d, want 1006", got)
	}
}

func TestAppendFrameMasks(t *testing.T) {
	c := &client{rnd: 12345}
	payload := []byte("hello, world: more than eight bytes")
	f := c.appendFrame(nil, 1, payload)
	if f[0] != 0x81 || f[1] != 0x80|byte(len(payload)) {
		t.Fatalf("header % x", f[:2])
	}
	key := f[2:6]
	for i, x := range f[6:] {
		if x^key[i&3] != payload[i] {
			t.Fatalf("byte %d not masked with the key", i)
		}
	}
}

func TestBucketOf(t *testing.T) {
	slow := func(us int64) int {
		if us < 1 {
			us = 1
		}
		i := int(math.Ceil(math.Log(float64(us)) / logStep))
		if i >= buckets {
			i = buckets - 1
		}
		return i
	}
	for us := int64(-3); us < 3_000_000; us += 1 + us/997 {
		// Exact edges may differ by one bucket from the float formula; nothing else may.
		if a, b := bucketOf(us), slow(us); a != b && (a-b > 1 || b-a > 1 || math.Abs(float64(us)-edges[min(a, b)]) > 1e-6*float64(us)) {
			t.Fatalf("bucketOf(%d) = %d, want %d", us, a, b)
		}
	}
	if bucketOf(1<<62) != buckets-1 {
		t.Fatal("huge values go to the last bucket")
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// unmask returns the payloads of the masked client text frames in f (short ones: < 126 bytes).
func unmask(t *testing.T, f []byte) []string {
	var out []string
	for len(f) > 0 {
		n := int(f[1] & 0x7f)
		if f[0] != 0x81 || n >= 126 {
			t.Fatalf("header % x", f[:2])
		}
		key, body := f[2:6], make([]byte, n)
		for i := range body {
			body[i] = f[6+i] ^ key[i&3]
		}
		out = append(out, string(body))
		f = f[6+n:]
	}
	return out
}

func TestBatcher(t *testing.T) {
	c := &client{rnd: 12345}
	w := batcher{max: 20}
	var out []byte
	for _, f := range []string{"ma", "mbb", "mccc", "mdddd", "m" + strings.Repeat("x", 30), "me"} {
		out = w.add(c, out, []byte(f))
	}
	out = w.flush(c, out)
	// B2:ma3:mbb4:mccc is 17 bytes; with 6:mdddd it would be 23 > 20. The 31-byte frame cannot
	// share a B (nor fit one): it goes alone, as itself; so does the last one.
	want := []string{"B2:ma3:mbb4:mccc", "mdddd", "m" + strings.Repeat("x", 30), "me"}
	got := unmask(t, out)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if out = w.flush(c, nil); len(out) != 0 {
		t.Fatalf("an empty flush wrote % x", out)
	}
	if digits(0) != 1 || digits(9) != 1 || digits(10) != 2 || digits(12345) != 5 {
		t.Fatal("digits")
	}
}
