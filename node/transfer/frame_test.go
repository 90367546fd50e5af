package transfer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

// chunkFrame builds a chunk frame whose length prefix claims claim bytes.
func chunkFrame(i uint64, claim uint64, body int) []byte {
	b := binary.AppendUvarint(nil, claim)
	b = binary.BigEndian.AppendUint64(b, i)
	return append(b, make([]byte, body)...)
}

func TestChunkFrameLimits(t *testing.T) {
	const ct = MaxChunkSize + Overhead
	want := func(i uint64) (int, bool) { return ct, i == 7 }
	buf := make([]byte, ct)

	// Exactly the largest frame: accepted.
	r := bufio.NewReader(bytes.NewReader(chunkFrame(7, chunkHeader+ct, ct)))
	if i, got, err := readChunkFrame(r, buf, want); err != nil || i != 7 || len(got) != ct {
		t.Fatalf("frame at the limit: %d, %d bytes, %v", i, len(got), err)
	}
	// One byte more: refused from the prefix alone.
	cr := &countingReader{r: bytes.NewReader(chunkFrame(7, chunkHeader+ct+1, ct+1))}
	if _, _, err := readChunkFrame(bufio.NewReaderSize(cr, 16), buf, want); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame over the limit: %v", err)
	}
	if cr.n > 16 {
		t.Fatalf("read %d bytes of a frame over the limit", cr.n)
	}
	// A huge claim with a small buffer: refused, nothing allocated.
	small := make([]byte, MinChunkSize+Overhead)
	if _, _, err := readChunkFrame(bufio.NewReader(bytes.NewReader(chunkFrame(7, math.MaxUint64, 0))), small, want); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("huge claim: %v", err)
	}
	// The wrong length for the index, an index not asked for, too short.
	if _, _, err := readChunkFrame(bufio.NewReader(bytes.NewReader(chunkFrame(7, chunkHeader+ct-1, ct-1))), buf, want); !errors.Is(err, ErrProtocol) {
		t.Fatalf("short chunk: %v", err)
	}
	if _, _, err := readChunkFrame(bufio.NewReader(bytes.NewReader(chunkFrame(8, chunkHeader+ct, ct))), buf, want); !errors.Is(err, ErrProtocol) {
		t.Fatalf("unasked chunk: %v", err)
	}
	if _, _, err := readChunkFrame(bufio.NewReader(bytes.NewReader(chunkFrame(7, chunkHeader+Overhead-1, 20))), buf, want); !errors.Is(err, ErrProtocol) {
		t.Fatalf("frame shorter than a tag: %v", err)
	}
	// Clean EOF before a frame, truncated inside one.
	if _, _, err := readChunkFrame(bufio.NewReader(bytes.NewReader(nil)), buf, want); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	if _, _, err := readChunkFrame(bufio.NewReader(bytes.NewReader(chunkFrame(7, chunkHeader+ct, 10))), buf, want); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
}

// TestSenderFrameRoundTrip checks that what putChunkHeader builds is what
// readChunkFrame reads.
func TestSenderFrameRoundTrip(t *testing.T) {
	for _, n := range []int{Overhead, 100, MaxChunkSize + Overhead} {
		buf := make([]byte, frameHeadroom+n)
		for k := range n {
			buf[frameHeadroom+k] = byte(k)
		}
		frame := putChunkHeader(buf, 1<<40+3, n)
		out := make([]byte, n)
		i, ct, err := readChunkFrame(bufio.NewReader(bytes.NewReader(frame)), out,
			func(uint64) (int, bool) { return n, true })
		if err != nil || i != 1<<40+3 || !bytes.Equal(ct, buf[frameHeadroom:]) {
			t.Fatalf("round trip of %d bytes: %d, %v", n, i, err)
		}
	}
}

func TestGetLimits(t *testing.T) {
	id := NewID()
	// The largest Get: MaxRanges ranges with the largest varints fits.
	rs := make([]chunkRange, MaxRanges)
	for k := range rs {
		rs[k] = chunkRange{maxChunks - 2*MaxRanges + 2*uint64(k), 1}
	}
	b, err := proto.Marshal(encodeGet(id, rs))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxGetFrame {
		t.Fatalf("largest Get is %d bytes, limit %d", len(b), MaxGetFrame)
	}
	if gid, got, err := decodeGet(b); err != nil || gid != id || !slices.Equal(got, rs) {
		t.Fatalf("largest Get: %v", err)
	}
	// One range more: refused.
	more := append(slices.Clone(rs), chunkRange{maxChunks - 1, 1})
	b, _ = proto.Marshal(encodeGet(id, more))
	if _, _, err := decodeGet(b); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Get with %d ranges: %v", len(more), err)
	}
	// Ranges at the top edge: [maxChunks-1, +1) is fine, +2 is not.
	for _, c := range []struct {
		r  []chunkRange
		ok bool
	}{
		{[]chunkRange{{maxChunks - 1, 1}}, true},
		{[]chunkRange{{maxChunks - 1, 2}}, false},
		{[]chunkRange{{0, 0}}, false},
		{[]chunkRange{{0, 2}, {2, 1}}, false}, // touching
		{[]chunkRange{{0, 2}, {3, 1}}, true},
		{[]chunkRange{{5, 1}, {3, 1}}, false}, // descending
		{[]chunkRange{{1, math.MaxUint64}}, false},
		{nil, false},
	} {
		b, _ := proto.Marshal(encodeGet(id, c.r))
		if _, _, err := decodeGet(b); (err == nil) != c.ok {
			t.Errorf("ranges %v: %v", c.r, err)
		}
	}
	if _, _, err := decodeGet(make([]byte, MaxGetFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized Get: %v", err)
	}
	b, _ = proto.Marshal(&Get{TransferId: id[:15], Ranges: []*Range{{First: 0, Count: 1}}})
	if _, _, err := decodeGet(b); !errors.Is(err, ErrProtocol) {
		t.Fatalf("short ID: %v", err)
	}
}

func TestReadFrameLimits(t *testing.T) {
	for _, n := range []int{0, 1, MaxGetFrame} {
		in := append(binary.AppendUvarint(nil, uint64(n)), make([]byte, n+5)...)
		r := bytes.NewReader(in)
		b, err := readFrame(r, MaxGetFrame)
		if err != nil || len(b) != n || r.Len() != 5 {
			t.Fatalf("frame of %d: %d bytes, %v, %d left (must not read past it)", n, len(b), err, r.Len())
		}
	}
	cr := &countingReader{r: bytes.NewReader(append(binary.AppendUvarint(nil, MaxGetFrame+1), make([]byte, MaxGetFrame+1)...))}
	if _, err := readFrame(cr, MaxGetFrame); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if cr.n > binary.MaxVarintLen64 {
		t.Fatalf("read %d bytes of an oversized frame", cr.n)
	}
	if _, err := readFrame(bytes.NewReader(nil), 10); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
}

func TestOfferLimits(t *testing.T) {
	for _, c := range []struct {
		size int64
		cs   int
		ok   bool
	}{
		{0, 0, true},
		{MaxFileSize, 0, true},
		{MaxFileSize + 1, 0, false},
		{-1, 0, false},
		{1, MinChunkSize, true},
		{1, MinChunkSize - 1, false},
		{1, MaxChunkSize, true},
		{1, MaxChunkSize + 1, false},
	} {
		o := Offer{Size: c.size, ChunkSize: c.cs}
		if err := o.Check(); (err == nil) != c.ok {
			t.Errorf("size %d chunk %d: %v", c.size, c.cs, err)
		}
	}
	o := Offer{Size: 3*MinChunkSize + 1, ChunkSize: MinChunkSize}
	if o.Chunks() != 4 || o.chunkLen(3) != 1 || o.chunkLen(0) != MinChunkSize {
		t.Fatalf("chunk math: %d chunks, last %d", o.Chunks(), o.chunkLen(3))
	}
	if o := (Offer{Size: MaxFileSize, ChunkSize: MinChunkSize}); o.Chunks() != maxChunks {
		t.Fatalf("largest offer has %d chunks, want %d", o.Chunks(), uint64(maxChunks))
	}
}

func TestNonceAndADDiffer(t *testing.T) {
	o := Offer{ID: NewID(), Size: 10 * MinChunkSize, ChunkSize: MinChunkSize}
	seen := map[[nonceLen]byte]bool{}
	for i := range o.Chunks() {
		n := nonce(i)
		if seen[n] {
			t.Fatalf("nonce of chunk %d repeats", i)
		}
		seen[n] = true
	}
	other := o
	other.Size--
	again := o
	again.ID = NewID()
	if ad(&o, 1) == ad(&other, 1) || ad(&o, 1) == ad(&o, 2) || ad(&o, 1) == ad(&again, 1) {
		t.Fatal("associated data does not bind transfer, size and index")
	}
}

func TestMissingRanges(t *testing.T) {
	done := []bool{true, false, false, true, false}
	got := missingRanges(done, 7)
	want := []chunkRange{{1, 2}, {4, 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := missingRanges([]bool{true, true}, 2); len(got) != 0 {
		t.Fatalf("all done: %v", got)
	}
	// Alternating: capped at MaxRanges, each a valid Get.
	alt := make([]bool, 4*MaxRanges)
	for k := range alt {
		alt[k] = k%2 == 0
	}
	got = missingRanges(alt, uint64(len(alt)))
	if len(got) != MaxRanges {
		t.Fatalf("%d ranges, want the cap %d", len(got), MaxRanges)
	}
	b, _ := proto.Marshal(encodeGet(NewID(), got))
	if _, _, err := decodeGet(b); err != nil {
		t.Fatal(err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":          "photo.jpg",
		"../../etc/passwd":   "_.._etc_passwd",
		"..":                 "file",
		"":                   "file",
		".bashrc":            "bashrc",
		"a\\b:c*.txt":        "a_b_c_.txt",
		"x\x00y\n":           "x_y_",
		"  spaced . ":        "spaced",
		"naïve résumé.pdf":   "naïve résumé.pdf",
		"C:\\Windows\\x.exe": "C__Windows_x.exe",
		// Issue 13, item 12: bidi and other format characters go, so the
		// name shows what the file is.
		"invoice\u202efdp.exe":   "invoicefdp.exe",
		"\u2067gpj.exe\u2069":    "gpj.exe",
		"report\u200b.pdf\ufeff": "report.pdf",
		"\u202e.bashrc":          "bashrc",
		"👩\u200d💻 notes.txt":     "👩\u200d💻 notes.txt",
	} {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
	long := CleanName(string(bytes.Repeat([]byte("é"), 300)) + ".tar.gz")
	if len(long) > maxNameBytes || long[len(long)-3:] != ".gz" {
		t.Fatalf("long name cleaned to %d bytes: %q", len(long), long)
	}
}

func TestCandidate(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		want string
	}{
		{"a.txt", 1, "a.txt"}, {"a.txt", 2, "a (2).txt"}, {"a", 3, "a (3)"}, {"a.tar.gz", 2, "a.tar (2).gz"},
	} {
		if got := candidate(c.name, c.n); got != c.want {
			t.Errorf("candidate(%q, %d) = %q, want %q", c.name, c.n, got, c.want)
		}
	}
}

func TestProgressThrottleAndRate(t *testing.T) {
	now := time.Unix(0, 0)
	var got []Progress
	p := newProgress(func(u Progress) { got = append(got, u) }, ID{}, 0, 1000)
	p.now = func() time.Time { return now }
	for range 100 { // 10 ms apart, 10 bytes each: 1000 bytes in 1 s
		now = now.Add(10 * time.Millisecond)
		p.add(10)
	}
	if len(got) > 11 {
		t.Fatalf("%d updates in 1 s", len(got))
	}
	last := got[len(got)-1]
	if last.Rate < 900 || last.Rate > 1100 {
		t.Fatalf("rate %v, want about 1000 B/s", last.Rate)
	}
	p.finish()
	if f := got[len(got)-1]; f.Done != 1000 || f.ETA != 0 {
		t.Fatalf("final %+v", f)
	}
	// The window slides: after a stall the rate falls.
	p2 := newProgress(func(u Progress) { got = append(got, u) }, ID{}, 0, 1e9)
	p2.now = func() time.Time { return now }
	for range 50 {
		now = now.Add(100 * time.Millisecond)
		p2.add(1000)
	}
	fast := got[len(got)-1].Rate
	for range 60 {
		now = now.Add(100 * time.Millisecond)
		p2.add(1)
	}
	if slow := got[len(got)-1]; slow.Rate > fast/10 || slow.ETA <= 0 {
		t.Fatalf("rate after a stall %v (was %v), ETA %v", slow.Rate, fast, slow.ETA)
	}
}

func TestChunkMaps(t *testing.T) {
	for name, m := range map[string]ChunkMap{"memory": new(MemoryChunkMap), "file": &FileChunkMap{Dir: t.TempDir()}} {
		t.Run(name, func(t *testing.T) {
			id := NewID()
			if d, err := m.Done(id); err != nil || len(d) != 0 {
				t.Fatalf("unknown transfer: %v, %v", d, err)
			}
			if err := m.MarkDone(id, 3, 0); err != nil {
				t.Fatal(err)
			}
			if err := m.MarkDone(id, 5); err != nil {
				t.Fatal(err)
			}
			d, err := m.Done(id)
			if err != nil || !slices.Equal(d, []bool{true, false, false, true, false, true}) {
				t.Fatalf("done %v, %v", d, err)
			}
			if err := m.Forget(id); err != nil {
				t.Fatal(err)
			}
			if d, _ := m.Done(id); len(d) != 0 {
				t.Fatal("forgotten transfer still has chunks")
			}
		})
	}
}

// TestFileChunkMapTornRecord: a crash mid-append leaves a partial record,
// which is ignored and then cut off before the next append.
func TestFileChunkMapTornRecord(t *testing.T) {
	m := &FileChunkMap{Dir: t.TempDir()}
	id := NewID()
	if err := m.MarkDone(id, 1); err != nil {
		t.Fatal(err)
	}
	f, _ := openAppend(m.path(id))
	f.Write([]byte{0, 0, 0})
	f.Close()
	if d, err := m.Done(id); err != nil || !slices.Equal(d, []bool{false, true}) {
		t.Fatalf("after a torn record: %v, %v", d, err)
	}
	if err := m.MarkDone(id, 2); err != nil {
		t.Fatal(err)
	}
	if d, err := m.Done(id); err != nil || !slices.Equal(d, []bool{false, true, true}) {
		t.Fatalf("after repair: %v, %v", d, err)
	}
}
