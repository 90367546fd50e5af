package transfer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"eserver/node/text"
)

// Every decoder has a fuzz target. Besides not panicking, each checks what
// must hold for any input: errors are the package's, what decodes
// re-encodes to something that decodes the same, and limits hold.

func openAppend(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
}

func FuzzDecodeGet(f *testing.F) {
	id := NewID()
	for _, rs := range [][]chunkRange{{{0, 1}}, {{0, 3}, {5, 2}}, {{maxChunks - 1, 1}}} {
		b, _ := proto.Marshal(encodeGet(id, rs))
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		gid, rs, err := decodeGet(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if len(rs) == 0 || len(rs) > MaxRanges {
			t.Fatalf("%d ranges accepted", len(rs))
		}
		var next uint64
		for _, r := range rs {
			if r.count == 0 || r.first < next || r.first+r.count > maxChunks {
				t.Fatalf("bad range %v accepted", r)
			}
			next = r.first + r.count + 1
		}
		again, _ := proto.Marshal(encodeGet(gid, rs))
		gid2, rs2, err := decodeGet(again)
		if err != nil || gid2 != gid || !slices.Equal(rs, rs2) {
			t.Fatalf("re-encoded Get decodes differently: %v", err)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	for _, s := range []Status{Status_STATUS_OK, Status_STATUS_REFUSED, Status_STATUS_CHANGED, 99} {
		b, _ := proto.Marshal(&Reply{Status: s})
		f.Add(b)
		b, _ = proto.Marshal(&Reply{Status: s, Salt: newSalt()})
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, salt, err := decodeReply(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if s == Status_STATUS_OK {
			// An OK reply always carries a salt a chunk key derives from.
			if _, err := chunkKey(Key{}, salt, ID{}); err != nil {
				t.Fatalf("OK reply accepted with salt %x: %v", salt, err)
			}
		}
		if err := replyErr(s); err != nil && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrChanged) && !errors.Is(err, ErrProtocol) {
			t.Fatalf("status %d maps to %v", s, err)
		}
	})
}

func FuzzReadChunkFrame(f *testing.F) {
	buf := make([]byte, frameHeadroom+MinChunkSize+Overhead)
	f.Add(slices.Clone(putChunkHeader(buf, 3, MinChunkSize+Overhead)), uint64(3), uint32(MinChunkSize+Overhead))
	f.Add(slices.Clone(putChunkHeader(buf, 0, Overhead)), uint64(0), uint32(Overhead))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint64(0), uint32(100))
	f.Fuzz(func(t *testing.T, in []byte, next uint64, ctLen uint32) {
		out := make([]byte, MinChunkSize+Overhead)
		want := func(i uint64) (int, bool) { return int(ctLen), i == next }
		cr := &countingReader{r: bytes.NewReader(in)}
		i, ct, err := readChunkFrame(bufio.NewReaderSize(cr, 16), out, want)
		if err != nil {
			if err != io.EOF && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if i != next || len(ct) != int(ctLen) || len(ct) > len(out) {
			t.Fatalf("accepted chunk %d of %d bytes, want %d of %d", i, len(ct), next, ctLen)
		}
		// It read exactly one frame.
		n, k := binary.Uvarint(in)
		if k <= 0 || uint64(cr.n) < uint64(k)+n-16 {
			t.Fatalf("read %d bytes for a frame of %d", cr.n, n)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{3, 1, 2, 3, 4})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		b, err := readFrame(r, 64)
		if err != nil {
			return
		}
		if len(b) > 64 {
			t.Fatalf("frame of %d bytes over the limit", len(b))
		}
		n, k := binary.Uvarint(in)
		if k <= 0 || int(n) != len(b) || r.Len() != len(in)-k-len(b) {
			t.Fatalf("frame of %d bytes read as %d, %d left", n, len(b), r.Len())
		}
	})
}

func FuzzParseChunkLog(f *testing.F) {
	f.Add(binary.BigEndian.AppendUint64(nil, 3))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		d, err := parseChunkLog(b, limit)
		if err != nil {
			return
		}
		if len(d) > limit {
			t.Fatalf("map of %d chunks over the limit", len(d))
		}
		for k := 0; k+8 <= len(b); k += 8 {
			if i := binary.BigEndian.Uint64(b[k:]); !d[i] {
				t.Fatalf("chunk %d recorded but not done", i)
			}
		}
	})
}

// FuzzCleanName: whatever name a peer offers, the cleaned name is a
// non-empty base name within maxNameBytes that neither hides nor climbs
// out of the folder, holds no control, bidi or other stray format
// character, and cleaning it again changes nothing.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"photo.jpg", "../../etc/passwd", "invoice\u202efdp.exe", ".bashrc", "a\x00b", "C:\\x.exe", " . "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := CleanName(name)
		if got == "" || len(got) > maxNameBytes || !utf8.ValidString(got) {
			t.Fatalf("CleanName(%+q) = %+q", name, got)
		}
		if strings.ContainsAny(got, "/\\:*?\"<>|") || got[0] == '.' || got == ".." {
			t.Fatalf("CleanName(%+q) = %+q is not a safe base name", name, got)
		}
		if text.Clean(got) != got {
			t.Fatalf("CleanName(%+q) = %+q keeps characters text.Clean strips", name, got)
		}
		if again := CleanName(got); again != got {
			t.Fatalf("CleanName not idempotent on %+q: %+q → %+q", name, got, again)
		}
	})
}
