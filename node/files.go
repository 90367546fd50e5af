package node

import (
	"context"
	"encoding/hex"
	"errors"
	"eserver/node/payload"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/picture"
	"eserver/node/store"
	"eserver/node/transfer"
	"eserver/node/wire"
)

// File transfers (node/transfer) keep their chunk records in the account's
// store, so a resume after a restart re-fetches nothing that arrived.

// chunkMap is transfer.ChunkMap over the store.
type chunkMap struct{ st *store.Store }

var _ transfer.ChunkMap = chunkMap{}

func (m chunkMap) Done(id transfer.ID) ([]bool, error) {
	idx, err := m.st.ChunksDone(id[:])
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	done := make([]bool, idx[len(idx)-1]+1)
	for _, i := range idx {
		done[i] = true
	}
	return done, nil
}

func (m chunkMap) MarkDone(id transfer.ID, indexes ...uint64) error {
	return m.st.MarkChunks(id[:], indexes...)
}

func (m chunkMap) Forget(id transfer.ID) error { return m.st.ForgetChunks(id[:]) }

// files is a session's file-transfer state: the sender serving our offers,
// the receiver fetching contacts' files, and the receives in flight.
type files struct {
	mu       sync.Mutex
	sender   *transfer.Sender
	recv     *transfer.Receiver
	running  map[transfer.ID]context.CancelFunc
	progress map[transfer.ID]transfer.Progress
}

// Retries of a receive that failed on the network before it is paused.
const (
	receiveRetries    = 3
	receiveRetryDelay = time.Second
)

func offerOf(t store.Transfer) transfer.Offer {
	o := transfer.Offer{Name: t.Name, Size: t.Size, ChunkSize: t.ChunkSize}
	copy(o.ID[:], t.ID)
	copy(o.Key[:], t.Key)
	copy(o.Hash[:], t.Hash)
	return o
}

// startFiles serves our offers and resumes what was moving when the
// session last ended.
func (s *session) startFiles() {
	s.files.sender = transfer.NewSender(s.host)
	if err := s.files.sender.Start(); err != nil {
		s.n.log.Warn("file transfers", "err", err)
	}
	s.files.recv = &transfer.Receiver{Host: s.host, Chunks: chunkMap{s.store}}
	s.files.running = map[transfer.ID]context.CancelFunc{}
	s.files.progress = map[transfer.ID]transfer.Progress{}
	ts, err := s.store.Transfers()
	if err != nil {
		s.n.log.Warn("reading transfers", "err", err)
		return
	}
	for _, t := range ts {
		st := api.TransferState(t.State)
		switch {
		case t.Outgoing && (st == api.TransferOffered || st == api.TransferActive || st == api.TransferPaused):
			if err := s.share(t); err != nil {
				s.setTransfer(t, api.TransferFailed, "", err)
			}
		case !t.Outgoing && st == api.TransferActive:
			s.startReceive(t)
		}
	}
}

// stopFiles ends every transfer in flight (they resume at the next
// sign-in).
func (s *session) stopFiles() {
	if s.files.sender != nil {
		s.files.sender.Close()
	}
	if s.files.recv != nil {
		s.files.recv.Close()
	}
}

// share lets the contact's device fetch the file of outgoing transfer t.
func (s *session) share(t store.Transfer) error {
	c, err := s.store.Contact(t.Peer)
	if err != nil {
		return err
	}
	p, err := peer.Decode(c.PeerID)
	if err != nil {
		return fmt.Errorf("no device of %s known", t.Peer)
	}
	o := offerOf(t)
	return s.files.sender.Add(transfer.Share{Offer: o, Path: t.Path, Peer: p, Sent: func(n int64) {
		s.files.mu.Lock()
		s.files.progress[o.ID] = transfer.Progress{ID: o.ID, Done: min(n, t.Size), Total: t.Size}
		s.files.mu.Unlock()
		cur, err := s.store.Transfer(t.ID)
		if err != nil {
			return
		}
		s.emitTransfer(cur, nil)
	}})
}

// toTransfer is t as the API shows it.
func (s *session) toTransfer(t store.Transfer, err error) api.Transfer {
	out := api.Transfer{ID: hex.EncodeToString(t.ID), Peer: t.Peer, Outgoing: t.Outgoing, Name: t.Name, Size: t.Size,
		State: api.TransferState(t.State), Type: mime.TypeByExtension(filepath.Ext(t.Name)), Thumbnail: t.Thumbnail}
	if t.Outgoing || out.State == api.TransferDone {
		out.Path = t.Path
	}
	var id transfer.ID
	copy(id[:], t.ID)
	s.files.mu.Lock()
	p, ok := s.files.progress[id]
	s.files.mu.Unlock()
	if ok {
		out.Bytes, out.Rate, out.ETA = p.Done, p.Rate, p.ETA
	}
	if out.State == api.TransferDone && !t.Outgoing {
		out.Bytes = t.Size
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

// emitTransfer tells the front ends about t, unless it carries a display
// picture: those move unseen (pictures.go).
func (s *session) emitTransfer(t store.Transfer, cause error) {
	if t.Kind == store.KindAvatar {
		return
	}
	at := s.toTransfer(t, cause)
	s.n.emit(api.Event{Transfer: &at})
}

// setTransfer records t's new state (and path, if not empty) and tells the
// front ends.
func (s *session) setTransfer(t store.Transfer, st api.TransferState, path string, cause error) {
	if err := s.store.SetTransferState(t.ID, string(st), path); err != nil {
		s.n.log.Warn("recording a transfer's state", "err", err)
	}
	t.State = string(st)
	if path != "" {
		t.Path = path
	}
	s.emitTransfer(t, cause)
}

// update tells the other side of t what changed.
func (s *session) update(t store.Transfer, state api.TransferState) error {
	return s.enqueue(t.Peer, &wire.Payload{Kind: &wire.Payload_FileUpdate{FileUpdate: &wire.FileUpdate{Id: t.ID, State: string(state)}}}, nil)
}

// startReceive fetches incoming transfer t into its directory.
func (s *session) startReceive(t store.Transfer) {
	o := offerOf(t)
	ctx, cancel := context.WithCancel(s.ctx)
	s.files.mu.Lock()
	if _, busy := s.files.running[o.ID]; busy {
		s.files.mu.Unlock()
		cancel()
		return
	}
	s.files.running[o.ID] = cancel
	s.files.mu.Unlock()
	s.goTracked(func() {
		defer cancel()
		final, err := s.fetchFile(ctx, t, o)
		s.files.mu.Lock()
		delete(s.files.running, o.ID)
		delete(s.files.progress, o.ID)
		s.files.mu.Unlock()
		if err == nil && t.Kind == store.KindAvatar {
			if err = s.pictureArrived(t, final); err != nil {
				s.n.log.Info("a contact's display picture was refused", "from", t.Peer, "err", err)
				s.setTransfer(t, api.TransferFailed, "", err)
				return
			}
		}
		switch {
		case err == nil:
			s.setTransfer(t, api.TransferDone, final, nil)
			if err := s.update(t, api.TransferDone); err != nil {
				s.n.log.Warn("telling the sender", "err", err)
			}
		case ctx.Err() != nil:
			// Paused or cancelled here (the caller recorded which), or the
			// session ended: it resumes at the next sign-in.
		case errors.Is(err, transfer.ErrRefused), errors.Is(err, transfer.ErrCorrupt), errors.Is(err, transfer.ErrChanged),
			errors.Is(err, transfer.ErrDiskFull), errors.Is(err, transfer.ErrPermission):
			s.setTransfer(t, api.TransferFailed, "", err)
		default:
			s.setTransfer(t, api.TransferPaused, "", err) // the network: the user resumes
		}
	})
}

// fetchFile runs the receiver, retrying network failures a few times.
func (s *session) fetchFile(ctx context.Context, t store.Transfer, o transfer.Offer) (string, error) {
	var err error
	for attempt := range receiveRetries {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(receiveRetryDelay):
			}
		}
		c, cerr := s.store.Contact(t.Peer)
		if cerr != nil {
			return "", cerr
		}
		p, perr := peer.Decode(c.PeerID)
		if perr != nil {
			return "", fmt.Errorf("no device of %s known", t.Peer)
		}
		var final string
		final, err = s.files.recv.Receive(ctx, transfer.Request{Peer: p, Offer: o, Dir: t.Path, Progress: func(pr transfer.Progress) {
			s.files.mu.Lock()
			s.files.progress[o.ID] = pr
			s.files.mu.Unlock()
			s.emitTransfer(t, nil)
		}})
		if err == nil || ctx.Err() != nil || errors.Is(err, transfer.ErrRefused) || errors.Is(err, transfer.ErrCorrupt) ||
			errors.Is(err, transfer.ErrDiskFull) || errors.Is(err, transfer.ErrPermission) || errors.Is(err, transfer.ErrChanged) {
			return final, err
		}
		s.n.log.Info("file transfer interrupted", "name", t.Name, "err", err)
	}
	return "", err
}

// stopReceive cancels a receive in flight, if any.
func (s *session) stopReceive(id transfer.ID) {
	s.files.mu.Lock()
	cancel := s.files.running[id]
	s.files.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// receiveFileOffer records a contact's offer for the user to answer.
func (s *session) receiveFileOffer(from string, o *wire.FileOffer) error {
	switch o.Kind {
	case wire.FileOffer_FILE:
	case wire.FileOffer_AVATAR:
		return s.receiveAvatarOffer(from, o)
	default:
		return payload.ErrBadRequest
	}
	// A preview that is not a small picture is dropped, not the file.
	thumb := o.Thumbnail
	if len(thumb) > 0 && picture.CheckThumbnail(thumb) != nil {
		thumb = nil
	}
	name := transfer.CleanName(o.Name)
	if len(o.Id) != 16 || len(o.Key) != 32 || len(o.Hash) != transfer.HashSize || name == "" {
		return payload.ErrBadRequest
	}
	t := store.Transfer{ID: o.Id, Peer: from, Name: name, Size: o.Size, ChunkSize: int(o.ChunkSize), Key: o.Key, Hash: o.Hash,
		State: string(api.TransferIncoming), Created: s.n.cfg.Now(), Thumbnail: thumb}
	if o := offerOf(t); o.Check() != nil {
		return payload.ErrBadRequest
	}
	if _, err := s.store.Transfer(o.Id); err == nil {
		return nil // a resend of an offer we have
	}
	if err := s.store.PutTransfer(t); err != nil {
		return err
	}
	s.emitTransfer(t, nil)
	return nil
}

// receiveFileUpdate applies what the other side of a transfer did.
func (s *session) receiveFileUpdate(from string, u *wire.FileUpdate) error {
	t, err := s.store.Transfer(u.Id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Peer != from) {
		return payload.ErrBadRequest
	}
	if err != nil {
		return err
	}
	var id transfer.ID
	copy(id[:], t.ID)
	cur := api.TransferState(t.State)
	if cur == api.TransferDone || cur == api.TransferCancelled || cur == api.TransferDeclined {
		return nil // over
	}
	switch st := api.TransferState(u.State); {
	case st == api.TransferCancelled:
		if t.Outgoing {
			s.files.sender.Cancel(id)
		} else {
			s.stopReceive(id)
			if err := s.files.recv.Discard(offerOf(t), t.Path); err != nil {
				s.n.log.Warn("removing a cancelled transfer's data", "err", err)
			}
		}
		s.setTransfer(t, api.TransferCancelled, "", nil)
	case st == api.TransferPaused && cur == api.TransferActive:
		s.stopReceive(id)
		s.setTransfer(t, api.TransferPaused, "", nil)
	case st == api.TransferActive && cur == api.TransferPaused: // resumed
		s.setTransfer(t, api.TransferActive, "", nil)
		if !t.Outgoing {
			s.startReceive(t)
		}
	case !t.Outgoing:
		return payload.ErrBadRequest // a sender cannot accept, decline or finish
	case st == api.TransferActive && cur == api.TransferOffered:
		s.setTransfer(t, api.TransferActive, "", nil)
	case st == api.TransferDeclined:
		s.files.sender.Cancel(id)
		s.setTransfer(t, api.TransferDeclined, "", nil)
	case st == api.TransferDone:
		s.files.sender.Cancel(id)
		s.setTransfer(t, api.TransferDone, "", nil)
	}
	return nil
}

// transferFor returns the transfer with hex ID id.
func (s *session) transferFor(id string) (store.Transfer, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return store.Transfer{}, fmt.Errorf("%w: %q is not a transfer ID", api.ErrBadRequest, id)
	}
	t, err := s.store.Transfer(raw)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind == store.KindAvatar) {
		return store.Transfer{}, fmt.Errorf("%w: no transfer %s", api.ErrBadRequest, id)
	}
	return t, err
}

// transferOf returns the session and the transfer with hex ID id.
func (n *Node) transferOf(id string) (*session, store.Transfer, error) {
	s, err := n.current()
	if err != nil {
		return nil, store.Transfer{}, err
	}
	t, err := s.transferFor(id)
	return s, t, err
}

// SendFile implements API.
func (n *Node) SendFile(ctx context.Context, to, path string) (string, error) {
	s, err := n.sessionFor(to)
	if err != nil {
		return "", err
	}
	if c, err := s.store.Contact(to); err != nil || api.Relation(c.Relation) != api.RelationAccepted {
		return "", fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	o, err := transfer.NewOffer(abs, transfer.DefaultChunkSize)
	if err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	// Image files go with a preview; anything else (or an image we cannot
	// read) goes without.
	thumb, _ := picture.Thumbnail(abs)
	t := store.Transfer{ID: o.ID[:], Peer: to, Outgoing: true, Name: o.Name, Size: o.Size, ChunkSize: o.ChunkSize,
		Key: o.Key[:], Hash: o.Hash[:], Path: abs, State: string(api.TransferOffered), Created: s.n.cfg.Now(), Thumbnail: thumb}
	if err := s.store.PutTransfer(t); err != nil {
		return "", err
	}
	if err := s.share(t); err != nil {
		return "", err
	}
	offer := &wire.FileOffer{Id: t.ID, Name: t.Name, Size: t.Size, ChunkSize: uint32(t.ChunkSize), Key: t.Key, Hash: t.Hash,
		Thumbnail: thumb}
	if err := s.enqueue(to, &wire.Payload{Kind: &wire.Payload_FileOffer{FileOffer: offer}}, nil); err != nil {
		return "", err
	}
	s.emitTransfer(t, nil)
	return hex.EncodeToString(t.ID), nil
}

// downloadDir is where accepted files go when the caller names no folder.
func (n *Node) downloadDir() string {
	if n.cfg.DownloadDir != "" {
		return n.cfg.DownloadDir
	}
	if home, err := os.UserHomeDir(); err == nil {
		if fi, err := os.Stat(filepath.Join(home, "Downloads")); err == nil && fi.IsDir() {
			return filepath.Join(home, "Downloads")
		}
	}
	return filepath.Join(n.cfg.ProfileDir, "received")
}

// AcceptFile implements API.
func (n *Node) AcceptFile(ctx context.Context, id, dir string) error {
	s, t, err := n.transferOf(id)
	if err != nil {
		return err
	}
	if t.Outgoing || api.TransferState(t.State) != api.TransferIncoming {
		return fmt.Errorf("%w: transfer %s is not an offer waiting for an answer", api.ErrBadRequest, id)
	}
	if dir == "" {
		dir = n.downloadDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	t.Path = dir
	s.setTransfer(t, api.TransferActive, dir, nil)
	if err := s.update(t, api.TransferActive); err != nil {
		return err
	}
	s.startReceive(t)
	return nil
}

// DeclineFile implements API.
func (n *Node) DeclineFile(ctx context.Context, id string) error {
	s, t, err := n.transferOf(id)
	if err != nil {
		return err
	}
	if t.Outgoing || api.TransferState(t.State) != api.TransferIncoming {
		return fmt.Errorf("%w: transfer %s is not an offer waiting for an answer", api.ErrBadRequest, id)
	}
	s.setTransfer(t, api.TransferDeclined, "", nil)
	return s.update(t, api.TransferDeclined)
}

// PauseTransfer implements API.
func (n *Node) PauseTransfer(ctx context.Context, id string) error {
	s, t, err := n.transferOf(id)
	if err != nil {
		return err
	}
	if st := api.TransferState(t.State); st != api.TransferActive && !(t.Outgoing && st == api.TransferOffered) {
		return fmt.Errorf("%w: transfer %s is %s", api.ErrBadRequest, id, st)
	}
	var tid transfer.ID
	copy(tid[:], t.ID)
	s.stopReceive(tid)
	s.setTransfer(t, api.TransferPaused, "", nil)
	return s.update(t, api.TransferPaused)
}

// ResumeTransfer implements API.
func (n *Node) ResumeTransfer(ctx context.Context, id string) error {
	s, t, err := n.transferOf(id)
	if err != nil {
		return err
	}
	if api.TransferState(t.State) != api.TransferPaused {
		return fmt.Errorf("%w: transfer %s is %s", api.ErrBadRequest, id, t.State)
	}
	s.setTransfer(t, api.TransferActive, "", nil)
	if !t.Outgoing {
		s.startReceive(t)
	}
	return s.update(t, api.TransferActive)
}

// CancelTransfer implements API.
func (n *Node) CancelTransfer(ctx context.Context, id string) error {
	s, t, err := n.transferOf(id)
	if err != nil {
		return err
	}
	switch api.TransferState(t.State) {
	case api.TransferDone, api.TransferCancelled, api.TransferDeclined:
		return fmt.Errorf("%w: transfer %s is over", api.ErrBadRequest, id)
	}
	var tid transfer.ID
	copy(tid[:], t.ID)
	if t.Outgoing {
		s.files.sender.Cancel(tid)
	} else {
		s.stopReceive(tid)
		if t.Path != "" {
			if err := s.files.recv.Discard(offerOf(t), t.Path); err != nil {
				n.log.Warn("removing a cancelled transfer's data", "err", err)
			}
		}
	}
	s.setTransfer(t, api.TransferCancelled, "", nil)
	return s.update(t, api.TransferCancelled)
}

// Transfers implements API.
func (n *Node) Transfers(ctx context.Context) ([]api.Transfer, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	ts, err := s.store.Transfers()
	if err != nil {
		return nil, err
	}
	out := make([]api.Transfer, 0, len(ts))
	for _, t := range ts {
		if t.Kind == store.KindAvatar {
			continue
		}
		out = append(out, s.toTransfer(t, nil))
	}
	return out, nil
}

// fileKinds: offers of files and the updates of their transfers.
func (s *session) fileKinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_FileOffer)(nil), From: payload.Accepted,
			Handle: func(in *payload.Inbound) error { return s.receiveFileOffer(in.From(), in.Payload.GetFileOffer()) }},
		{Of: (*wire.Payload_FileUpdate)(nil), From: payload.Accepted,
			Handle: func(in *payload.Inbound) error { return s.receiveFileUpdate(in.From(), in.Payload.GetFileUpdate()) }},
	}
}
