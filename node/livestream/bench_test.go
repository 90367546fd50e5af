package livestream

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
)

// Live streams against a bare libp2p stream on the same pair of loopback
// hosts, with the same write sizes, so the ratio comes from one run:
//
//	go test -tags sqlite_fts5 -run '^$' -bench 'Stream$' ./node/livestream/

var benchWrites = []int{100, 4 << 10, 256 << 10}

func BenchmarkLiveStream(b *testing.B) {
	for _, size := range benchWrites {
		b.Run(fmt.Sprintf("write=%d", size), func(b *testing.B) {
			s, r := pipe(b, "bench")
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, r)
				done <- err
			}()
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if _, err := s.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkRawStream(b *testing.B) {
	for _, size := range benchWrites {
		b.Run(fmt.Sprintf("write=%d", size), func(b *testing.B) {
			a, h := connected(b)
			done := make(chan error, 1)
			h.SetStreamHandler(ProtocolID, func(s network.Stream) {
				_, err := io.Copy(io.Discard, s)
				s.Close()
				done <- err
			})
			s, err := a.NewStream(context.Background(), h.ID(), ProtocolID)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if _, err := s.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			s.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
