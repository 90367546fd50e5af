//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// receiveRawDirect needs O_DIRECT, which only the Linux build uses.
func receiveRawDirect(context.Context, host.Host, peer.ID, string) (int64, error) {
	return 0, errors.New("the rawdirect case needs Linux")
}
