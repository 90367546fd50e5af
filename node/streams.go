package node

import (
	"context"
	"io"
)

// OpenStream implements API (the live-stream capability is node/streams).
func (n *Node) OpenStream(ctx context.Context, to, label string) (string, io.WriteCloser, error) {
	s, err := n.sessionFor(to)
	if err != nil {
		return "", nil, err
	}
	return s.streams.Open(ctx, to, label)
}

// AcceptStream implements API.
func (n *Node) AcceptStream(ctx context.Context, id string) (io.ReadCloser, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.streams.Accept(id)
}
