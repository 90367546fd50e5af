// Package streams is the live-stream capability between contacts: a user
// opens a byte stream to an online contact (a screen, a camera, a pipe from
// the daemon) and the contact accepts it, both over node/livestream.
//
// The opener announces the stream — its ID, key and label — in a
// StreamOffer sent through the end-to-end channel, waits until the
// contact's node acknowledged it, then opens the stream; the contact's
// listener lets in only a contact that announced that very stream, with the
// key it announced, once. Nothing about a stream is stored.
package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/livestream"
	"eserver/node/payload"
	"eserver/node/task"
	"eserver/node/text"
	"eserver/node/wire"
)

// Limits and timeouts of the capability.
const (
	OfferTTL  = 2 * time.Minute  // an announced stream must open within this
	OpenWait  = 20 * time.Second // how long Open waits for the offer's ack
	MaxLabel  = 256              // bytes of UTF-8
	MaxOffers = 256              // announced and not yet opened, per session
)

// Host is what the capability needs from the node.
type Host interface {
	// Libp2p is the node's host, for the live-stream protocol.
	Libp2p() host.Host
	// ContactOf names the accepted contact whose device p is, or "".
	ContactOf(p peer.ID) string
	// Contact returns username's entry in our list (api.ErrNotContact if
	// none).
	Contact(username string) (api.Contact, error)
	// Device is the contact's device we last heard from.
	Device(username string) (peer.ID, error)
	// Deliver queues p for username and waits until the contact's node
	// acknowledged it (or ctx ends; p then stays queued).
	Deliver(ctx context.Context, username string, p *wire.Payload) error
	// Emit tells the front ends.
	Emit(e api.Event)
}

type offerKey struct {
	from peer.ID
	id   livestream.ID
}

type offer struct {
	key     []byte
	label   string
	expires time.Time
}

type incoming struct {
	r       *livestream.Receiver
	expires time.Time
}

// Streams is the capability for one session. Make it with New, register
// its Kinds, Start it when the session runs and Close it when it ends.
type Streams struct {
	h     Host
	now   func() time.Time
	tasks *task.Group
	ln    *livestream.Listener

	mu       sync.Mutex
	offers   map[offerKey]offer
	incoming map[string]incoming // by stream ID (hex), accepted and not yet claimed
}

// New returns the capability on h; now is the clock (nil: time.Now).
func New(h Host, now func() time.Time) *Streams {
	if now == nil {
		now = time.Now
	}
	return &Streams{h: h, now: now, offers: map[offerKey]offer{}, incoming: map[string]incoming{}}
}

// Kinds are the payload kinds the capability handles.
func (s *Streams) Kinds() []payload.Kind {
	return []payload.Kind{{Of: (*wire.Payload_StreamOffer)(nil), From: payload.Accepted, Handle: s.receiveOffer}}
}

// Start listens for contacts' live streams until Close; a stream nobody
// claims within api.StreamClaimTimeout is closed. Streams announced to us
// are let in from the moment Start returns.
func (s *Streams) Start(ctx context.Context) {
	s.tasks = task.New(ctx)
	s.ln = livestream.Listen(s.h.Libp2p(), livestream.Config{Allow: s.allow, Key: s.keyFor})
	s.tasks.Go(s.accept)
}

// Close stops listening, closes the streams nobody claimed and waits for
// every goroutine Start began. Claimed streams stay open.
func (s *Streams) Close() {
	if s.tasks == nil {
		return
	}
	s.tasks.Cancel()
	s.ln.Close()
	s.tasks.Close()
}

func (s *Streams) accept(ctx context.Context) {
	for {
		r, err := s.ln.Accept(ctx)
		if err != nil {
			return // closed
		}
		id := r.ID()
		sid := hex.EncodeToString(id[:])
		s.mu.Lock()
		s.incoming[sid] = incoming{r: r, expires: s.now().Add(api.StreamClaimTimeout)}
		s.mu.Unlock()
		// The label stays as sent for the stream's cryptography; it is
		// shown cleaned (issue 13, item 12).
		s.h.Emit(api.Event{StreamIncoming: &api.StreamEvent{ID: sid, From: s.h.ContactOf(r.Peer()), Label: text.Clean(r.Label())}})
		s.tasks.Go(func(ctx context.Context) { s.unclaimed(ctx, sid) })
	}
}

// unclaimed closes an incoming stream nobody took in time.
func (s *Streams) unclaimed(ctx context.Context, sid string) {
	t := time.NewTimer(api.StreamClaimTimeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	in, ok := s.incoming[sid]
	delete(s.incoming, sid)
	s.mu.Unlock()
	if ok {
		in.r.Close()
	}
}

// allow lets in accepted, unblocked contacts only (before any key is
// looked up).
func (s *Streams) allow(p peer.ID, _ string) bool {
	u := s.h.ContactOf(p)
	if u == "" {
		return false
	}
	c, err := s.h.Contact(u)
	return err == nil && c.Relation == api.RelationAccepted
}

// keyFor returns the key p announced for stream id, once.
func (s *Streams) keyFor(p peer.ID, id livestream.ID, label string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := offerKey{p, id}
	o, ok := s.offers[k]
	delete(s.offers, k)
	if !ok || s.now().After(o.expires) || o.label != label {
		return nil, errors.New("no such stream announced")
	}
	return o.key, nil
}

// receiveOffer remembers a contact's announced stream.
func (s *Streams) receiveOffer(in *payload.Inbound) error {
	o := in.Payload.GetStreamOffer()
	if len(o.Id) != len(livestream.ID{}) || len(o.Key) != 32 || len(o.Label) > MaxLabel || !utf8.ValidString(o.Label) {
		return payload.ErrBadRequest
	}
	var id livestream.ID
	copy(id[:], o.Id)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.offers {
		if now.After(v.expires) {
			delete(s.offers, k)
		}
	}
	if len(s.offers) >= MaxOffers {
		return payload.ErrRateLimited
	}
	s.offers[offerKey{in.Ticket.Peer, id}] = offer{key: append([]byte(nil), o.Key...), label: o.Label, expires: now.Add(OfferTTL)}
	return nil
}

// Open announces a stream to the online contact to and opens it; it returns
// the stream's ID and its writing end.
func (s *Streams) Open(ctx context.Context, to, label string) (string, io.WriteCloser, error) {
	if len(label) > MaxLabel || !utf8.ValidString(label) {
		return "", nil, fmt.Errorf("%w: a label is at most %d bytes of UTF-8", api.ErrBadRequest, MaxLabel)
	}
	c, err := s.h.Contact(to)
	if err != nil || c.Relation != api.RelationAccepted {
		return "", nil, fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	if !c.Online() {
		// A live stream needs the contact now; the offer must not wait
		// in a mailbox.
		return "", nil, fmt.Errorf("%w: %s is not online", api.ErrUnreachable, to)
	}
	id := livestream.NewID()
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand's documented contract)
	wait, cancel := context.WithTimeout(ctx, OpenWait)
	defer cancel()
	err = s.h.Deliver(wait, to, &wire.Payload{Kind: &wire.Payload_StreamOffer{StreamOffer: &wire.StreamOffer{Id: id[:], Key: key, Label: label}}})
	if wait.Err() != nil {
		// The offer stays queued (or goes to the mailbox) and expires at
		// the contact unused.
		return "", nil, fmt.Errorf("%w: %s did not answer", api.ErrUnreachable, to)
	}
	if err != nil {
		return "", nil, err
	}
	p, err := s.h.Device(to)
	if err != nil {
		return "", nil, fmt.Errorf("%w: no device of %s known", api.ErrUnreachable, to)
	}
	w, err := livestream.OpenWithID(network.WithAllowLimitedConn(ctx, "livestream"), s.h.Libp2p(), p, id, key, label)
	if err != nil {
		return "", nil, fmt.Errorf("opening a stream to %s: %w", to, err)
	}
	return hex.EncodeToString(id[:]), w, nil
}

// Accept claims the incoming stream id and returns its reading end.
func (s *Streams) Accept(id string) (io.ReadCloser, error) {
	s.mu.Lock()
	in, ok := s.incoming[id]
	delete(s.incoming, id)
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: no incoming stream %q", api.ErrBadRequest, id)
	}
	return in.r, nil
}
