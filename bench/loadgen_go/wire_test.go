package main

import (
	"math"
	"strconv"
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
	c := &client{pub: -1, lastSeq: []int64{-1}}
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
