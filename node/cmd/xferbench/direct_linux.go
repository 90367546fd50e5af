package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/transfer"
)

// directBlock is the baseline's write size: EServer's default chunk.
const directBlock = transfer.DefaultChunkSize

// receiveRawDirect copies one bare stream into a file the way EServer's
// receiver writes: whole blocks through an O_DIRECT descriptor from aligned
// buffers, the tail through the page cache, fsynced at the end, with the
// disk writes in their own goroutine so they overlap the next block's
// arrival (as EServer's writer does). It is the bare stream's ceiling with
// EServer's disk path, so the EServer/raw ratio compares the protocols, not
// the page cache.
func receiveRawDirect(ctx context.Context, h host.Host, p peer.ID, path string) (n int64, err error) {
	st, err := h.NewStream(ctx, p, rawProto)
	if err != nil {
		return 0, fmt.Errorf("opening raw stream: %w", err)
	}
	defer func() {
		if err != nil {
			st.Reset()
			return
		}
		st.Close()
	}()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	d, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return 0, fmt.Errorf("opening %s for direct writes: %w", path, err)
	}
	defer d.Close()

	type block struct {
		buf []byte
		n   int
		off int64
	}
	const depth = 3
	free, full := make(chan []byte, depth), make(chan block, depth)
	for range depth {
		free <- transfer.AlignedBuf(directBlock)
	}
	werr := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			if err == nil {
				if b.n == len(b.buf) {
					_, err = d.WriteAt(b.buf, b.off)
				} else {
					_, err = f.WriteAt(b.buf[:b.n], b.off)
				}
			}
			free <- b.buf
		}
		werr <- err
	}()
	var rerr error
	for {
		buf := <-free
		m, err := io.ReadFull(st, buf)
		if m > 0 {
			full <- block{buf, m, n}
			n += int64(m)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(full)
	if err := errors.Join(rerr, <-werr, f.Sync()); err != nil {
		return n, fmt.Errorf("raw copy into %s: %w", path, err)
	}
	return n, nil
}
