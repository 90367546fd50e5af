package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/livestream"
	"eserver/node/wire"
)

// Live streams (node/livestream) between contacts. The opener announces
// the stream — its ID, key and label — in a StreamOffer sent through the
// end-to-end channel, waits until the contact's node acknowledged it, then
// opens the stream; the contact's listener lets in only a contact that
// announced that very stream, with the key it announced, once.

const (
	streamOfferTTL = 2 * time.Minute  // an announced stream must open within this
	streamOpenWait = 20 * time.Second // how long OpenStream waits for the offer's ack
	maxStreamLabel = 256
	maxOffers      = 256 // announced and not yet opened, per session
)

type offerKey struct {
	from peer.ID
	id   livestream.ID
}

type streamOffer struct {
	key     []byte
	label   string
	expires time.Time
}

type incomingStream struct {
	r       *livestream.Receiver
	expires time.Time
}

// streams is a session's live-stream state.
type streams struct {
	mu       sync.Mutex
	offers   map[offerKey]streamOffer
	incoming map[string]incomingStream // by stream ID (hex), accepted and not yet claimed
	ln       *livestream.Listener
}

// startStreams listens for contacts' live streams until the session ends.
func (s *session) startStreams() {
	s.streams.offers = map[offerKey]streamOffer{}
	s.streams.incoming = map[string]incomingStream{}
	s.streams.ln = livestream.Listen(s.host, livestream.Config{Allow: s.allowStream, Key: s.streamKey})
	s.goTracked(func() {
		defer s.streams.ln.Close()
		for {
			r, err := s.streams.ln.Accept(s.ctx)
			if err != nil {
				return
			}
			id := r.ID()
			sid := hex.EncodeToString(id[:])
			from := s.contactOf(r.Peer())
			s.streams.mu.Lock()
			s.streams.incoming[sid] = incomingStream{r: r, expires: time.Now().Add(api.StreamClaimTimeout)}
			s.streams.mu.Unlock()
			s.n.emit(api.Event{StreamIncoming: &api.StreamEvent{ID: sid, From: from, Label: r.Label()}})
			s.goTracked(func() { s.unclaimed(sid) })
		}
	})
}

// unclaimed closes an incoming stream nobody took in time.
func (s *session) unclaimed(sid string) {
	t := time.NewTimer(api.StreamClaimTimeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
	s.streams.mu.Lock()
	in, ok := s.streams.incoming[sid]
	delete(s.streams.incoming, sid)
	s.streams.mu.Unlock()
	if ok {
		in.r.Close()
	}
}

// allowStream lets in accepted, unblocked contacts only (before any key is
// looked up).
func (s *session) allowStream(p peer.ID, label string) bool {
	u := s.contactOf(p)
	if u == "" {
		return false
	}
	c, err := s.store.Contact(u)
	return err == nil && api.Relation(c.Relation) == api.RelationAccepted
}

// streamKey returns the key p announced for stream id, once.
func (s *session) streamKey(p peer.ID, id livestream.ID, label string) ([]byte, error) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	k := offerKey{p, id}
	o, ok := s.streams.offers[k]
	delete(s.streams.offers, k)
	if !ok || time.Now().After(o.expires) || o.label != label {
		return nil, errors.New("no such stream announced")
	}
	return o.key, nil
}

// receiveStreamOffer remembers a contact's announced stream.
func (s *session) receiveStreamOffer(t peer.ID, o *wire.StreamOffer) error {
	if len(o.Id) != len(livestream.ID{}) || len(o.Key) != 32 || len(o.Label) > maxStreamLabel || !utf8.ValidString(o.Label) {
		return errAck(ackBadRequest)
	}
	var id livestream.ID
	copy(id[:], o.Id)
	now := time.Now()
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	for k, v := range s.streams.offers {
		if now.After(v.expires) {
			delete(s.streams.offers, k)
		}
	}
	if len(s.streams.offers) >= maxOffers {
		return errAck(ackRateLimited)
	}
	s.streams.offers[offerKey{t, id}] = streamOffer{key: append([]byte(nil), o.Key...), label: o.Label, expires: now.Add(streamOfferTTL)}
	return nil
}

// OpenStream implements API.
func (n *Node) OpenStream(ctx context.Context, to, label string) (string, io.WriteCloser, error) {
	s, err := n.sessionFor(to)
	if err != nil {
		return "", nil, err
	}
	if len(label) > maxStreamLabel || !utf8.ValidString(label) {
		return "", nil, fmt.Errorf("%w: a label is at most %d bytes of UTF-8", api.ErrBadRequest, maxStreamLabel)
	}
	c, err := s.store.Contact(to)
	if err != nil || api.Relation(c.Relation) != api.RelationAccepted {
		return "", nil, fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	if cc := s.toContact(c); !cc.Online() {
		// A live stream needs the contact now; the offer must not wait
		// in a mailbox.
		return "", nil, fmt.Errorf("%w: %s is not online", api.ErrUnreachable, to)
	}
	id := livestream.NewID()
	key := newStorageKey() // 32 random bytes
	offerID := newID()
	acked := s.waitAck(offerID)
	defer s.forgetAck(offerID)
	if err := s.enqueueWithID(to, offerID, &wire.Payload{Kind: &wire.Payload_StreamOffer{StreamOffer: &wire.StreamOffer{Id: id[:], Key: key, Label: label}}}); err != nil {
		return "", nil, err
	}
	wait, cancel := context.WithTimeout(ctx, streamOpenWait)
	defer cancel()
	select {
	case <-acked:
	case <-wait.Done():
		// The offer stays queued (or goes to the mailbox) and expires at
		// the contact unused.
		return "", nil, fmt.Errorf("%w: %s did not answer", api.ErrUnreachable, to)
	}
	if c, err = s.store.Contact(to); err != nil {
		return "", nil, err
	}
	p, err := peer.Decode(c.PeerID)
	if err != nil {
		return "", nil, fmt.Errorf("%w: no device of %s known", api.ErrUnreachable, to)
	}
	w, err := livestream.OpenWithID(network.WithAllowLimitedConn(ctx, "livestream"), s.host, p, id, key, label)
	if err != nil {
		return "", nil, fmt.Errorf("opening a stream to %s: %w", to, err)
	}
	return hex.EncodeToString(id[:]), w, nil
}

// AcceptStream implements API.
func (n *Node) AcceptStream(ctx context.Context, id string) (io.ReadCloser, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	s.streams.mu.Lock()
	in, ok := s.streams.incoming[id]
	delete(s.streams.incoming, id)
	s.streams.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: no incoming stream %q", api.ErrBadRequest, id)
	}
	return in.r, nil
}

// waitAck returns a channel closed when the contact's node acknowledges
// the outbox entry id (see courier.exchange).
func (s *session) waitAck(id string) <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.ackWait == nil {
		s.ackWait = map[string]chan struct{}{}
	}
	s.ackWait[id] = ch
	s.mu.Unlock()
	return ch
}

func (s *session) forgetAck(id string) {
	s.mu.Lock()
	delete(s.ackWait, id)
	s.mu.Unlock()
}

// acked wakes whoever waits for entry id.
func (s *session) acked(id string) {
	s.mu.Lock()
	ch, ok := s.ackWait[id]
	delete(s.ackWait, id)
	s.mu.Unlock()
	if ok {
		close(ch)
	}
}
