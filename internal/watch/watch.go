// Package watch is an in-process node with its event stream, for the
// programs that stage a scene with real nodes (scripts/screenshots,
// scripts/membench): they open nodes on loopback, sign them up and wait for
// what the desktop app under test should show. Tests use node/nodetest,
// which fails a testing.TB instead of returning errors.
package watch

import (
	"context"
	"errors"
	"time"

	"eserver/node"
	"eserver/node/api"
)

// DefaultWait is how long Wait waits for an event: generous, as the
// scenes run beside an X server and the app on a shared machine.
const DefaultWait = 30 * time.Second

// ErrTimedOut is Wait giving up.
var ErrTimedOut = errors.New("timed out waiting for an event")

// Node is a node opened on 127.0.0.1 with its event stream.
type Node struct {
	*node.Node
	events <-chan api.Event
	cancel context.CancelFunc
}

// Open opens the node whose profile is dir, listening on a loopback port,
// with retries and lookups quick enough for a scene, and no LAN discovery.
func Open(dir string) (*Node, error) {
	n, err := node.New(node.Config{ProfileDir: dir, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		RetryMax: 500 * time.Millisecond, LookupInterval: time.Second, NoLAN: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{Node: n, events: n.Watch(ctx), cancel: cancel}, nil
}

// Close stops the event stream and closes the node.
func (w *Node) Close() error {
	w.cancel()
	return w.Node.Close()
}

// Wait returns the first event that matches, within DefaultWait.
func (w *Node) Wait(ctx context.Context, match func(api.Event) bool) (api.Event, error) {
	return w.WaitWithin(ctx, DefaultWait, match)
}

// WaitWithin returns the first event that matches, within d.
func (w *Node) WaitWithin(ctx context.Context, d time.Duration, match func(api.Event) bool) (api.Event, error) {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				return api.Event{}, errors.New("event stream closed")
			}
			if match(e) {
				return e, nil
			}
		case <-timeout.C:
			return api.Event{}, ErrTimedOut
		case <-ctx.Done():
			return api.Event{}, ctx.Err()
		}
	}
}
