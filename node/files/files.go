// Package files is the file-transfer capability between contacts: a user
// offers a file to an accepted contact, the contact accepts it into a
// folder (or declines it), and either side may pause, resume or cancel it
// until it is done. The bytes move over node/transfer — encrypted chunks
// fetched by the receiver, the whole file checked against the offer's hash.
//
// The offer (FileOffer) and every change of state (FileUpdate) travel
// through the end-to-end channel; the transfers and their chunk records
// live in the account's store, so a transfer that was moving when the
// session ended resumes at the next sign-in and re-fetches nothing that
// arrived.
//
// Display pictures travel the same way, as transfers of kind avatar that
// nobody is asked about and the front ends never see: the picture
// capability offers and fetches them here (OfferAvatar, FetchAvatar) and is
// handed the offers and arrivals through the Avatars interface.
package files

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/picture"
	"eserver/node/store"
	"eserver/node/task"
	"eserver/node/text"
	"eserver/node/transfer"
	"eserver/node/wire"
)

// Retries of a receive that failed on the network before it is paused.
const (
	ReceiveRetries    = 3
	ReceiveRetryDelay = time.Second
)

// What one contact's offers may store with us (issue 13, item 11): a
// contact sending offer after offer must not fill our disk. Per contact,
// at most MaxPendingOffers offers wait for the user's answer (more are
// declined at once: a contact with that many unanswered is flooding, and
// its own side learns), at most MaxThumbnails previews are kept — the
// newest offers', older ones are dropped, so at most MaxThumbnails ×
// picture.MaxThumb (320 KiB) of previews — and at most MaxFinishedOffers
// offers that are over (done, declined, cancelled, failed; display
// pictures included) are remembered.
const (
	MaxPendingOffers  = 50
	MaxThumbnails     = 20
	MaxFinishedOffers = 200
)

// Host is what the capability needs from the node.
type Host interface {
	// Libp2p is the node's host, for the transfer protocol.
	Libp2p() host.Host
	// Store is the account's database: the transfers, their chunk
	// records, and the contacts' devices.
	Store() *store.Store
	// Enqueue queues p for username in the durable outbox.
	Enqueue(username string, p *wire.Payload, m *store.Message) error
	// Emit tells the front ends.
	Emit(e api.Event)
	// Now is the session's clock.
	Now() time.Time
	// Log is the node's logger.
	Log() *slog.Logger
}

// Avatars is the display-picture capability, told about the transfers of
// kind avatar: the pictures move as transfers, but what they are is its
// business.
type Avatars interface {
	// AvatarOffered is a contact's offer of its display picture; the
	// capability fetches it with FetchAvatar if it wants it. An error is
	// the handler's (payload.ErrBadRequest refuses the offer).
	AvatarOffered(from string, o *wire.FileOffer) error
	// AvatarArrived is the fetched picture t, in file, which it takes
	// (the file is its to remove). An error fails the transfer.
	AvatarArrived(t store.Transfer, file string) error
}

// Files is the capability for one session. Make it with New, register its
// Kinds, Start it when the session runs and Close it when it ends. It
// serves and fetches from New on (payloads may arrive before Start);
// Start only begins answering contacts' fetches and resumes what was
// moving when the session last ended.
type Files struct {
	h      Host
	av     Avatars
	sender *transfer.Sender
	recv   *transfer.Receiver
	tasks  *task.Group // the receives in flight
	stop   func() bool // detaches Start's context

	mu       sync.Mutex
	running  map[transfer.ID]context.CancelFunc // receives in flight
	progress map[transfer.ID]transfer.Progress
}

// New returns the capability on h; av is told about display pictures.
func New(h Host, av Avatars) *Files {
	return &Files{h: h, av: av,
		sender: transfer.NewSender(h.Libp2p()),
		recv:   &transfer.Receiver{Host: h.Libp2p(), Chunks: chunkMap{h.Store()}},
		tasks:  task.New(context.Background()), stop: func() bool { return false },
		running: map[transfer.ID]context.CancelFunc{}, progress: map[transfer.ID]transfer.Progress{}}
}

// Kinds are the payload kinds the capability handles: offers of files and
// the updates of their transfers.
func (f *Files) Kinds() []payload.Kind {
	return []payload.Kind{
		{Of: (*wire.Payload_FileOffer)(nil), From: payload.Accepted,
			Handle: func(in *payload.Inbound) error { return f.receiveOffer(in.From(), in.Payload.GetFileOffer()) }},
		{Of: (*wire.Payload_FileUpdate)(nil), From: payload.Accepted,
			Handle: func(in *payload.Inbound) error { return f.receiveUpdate(in.From(), in.Payload.GetFileUpdate()) }},
	}
}

// Start serves our offers to the contacts' devices and resumes what was
// moving when the session last ended. When ctx ends, receives in flight
// pause (they resume at the next sign-in).
func (f *Files) Start(ctx context.Context) {
	f.stop = context.AfterFunc(ctx, f.tasks.Cancel)
	if err := f.sender.Start(); err != nil {
		f.h.Log().Warn("file transfers", "err", err)
	}
	ts, err := f.h.Store().Transfers()
	if err != nil {
		f.h.Log().Warn("reading transfers", "err", err)
		return
	}
	for _, t := range ts {
		st := api.TransferState(t.State)
		switch {
		case t.Outgoing && (st == api.TransferOffered || st == api.TransferActive || st == api.TransferPaused):
			if err := f.share(t); err != nil {
				f.set(t, api.TransferFailed, "", err)
			}
		case !t.Outgoing && st == api.TransferActive:
			f.startReceive(t)
		}
	}
}

// Close ends every transfer in flight (they resume at the next sign-in)
// and waits for every goroutine of the capability.
func (f *Files) Close() {
	f.stop()
	f.tasks.Cancel()
	f.sender.Close()
	f.recv.Close()
	f.tasks.Close()
}

func offerOf(t store.Transfer) transfer.Offer {
	o := transfer.Offer{Name: t.Name, Size: t.Size, ChunkSize: t.ChunkSize}
	copy(o.ID[:], t.ID)
	copy(o.Key[:], t.Key)
	copy(o.Hash[:], t.Hash)
	return o
}

func idOf(t store.Transfer) transfer.ID {
	var id transfer.ID
	copy(id[:], t.ID)
	return id
}

// device is the contact's device we last heard from.
func (f *Files) device(username string) (peer.ID, error) {
	c, err := f.h.Store().Contact(username)
	if err != nil {
		return "", err
	}
	p, err := peer.Decode(c.PeerID)
	if err != nil {
		return "", fmt.Errorf("no device of %s known", username)
	}
	return p, nil
}

// share lets the contact's device fetch the file of outgoing transfer t.
func (f *Files) share(t store.Transfer) error {
	p, err := f.device(t.Peer)
	if err != nil {
		return err
	}
	o := offerOf(t)
	return f.sender.Add(transfer.Share{Offer: o, Path: t.Path, Peer: p, Sent: func(n int64) {
		f.mu.Lock()
		f.progress[o.ID] = transfer.Progress{ID: o.ID, Done: min(n, t.Size), Total: t.Size}
		f.mu.Unlock()
		cur, err := f.h.Store().Transfer(t.ID)
		if err != nil {
			return
		}
		f.emit(cur, nil)
	}})
}

// offer offers the file at path (under its file name) to the contact to:
// it records the outgoing transfer, lets the contact's device fetch it and
// queues the offer.
func (f *Files) offer(to, path, kind string, thumb []byte) (store.Transfer, error) {
	o, err := transfer.NewOffer(path, transfer.DefaultChunkSize)
	if err != nil {
		return store.Transfer{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	t := store.Transfer{ID: o.ID[:], Peer: to, Outgoing: true, Name: o.Name, Size: o.Size, ChunkSize: o.ChunkSize,
		Key: o.Key[:], Hash: o.Hash[:], Path: path, State: string(api.TransferOffered), Created: f.h.Now(), Kind: kind,
		Thumbnail: thumb}
	if err := f.h.Store().PutTransfer(t); err != nil {
		return store.Transfer{}, err
	}
	if err := f.share(t); err != nil {
		return store.Transfer{}, err
	}
	wo := &wire.FileOffer{Id: t.ID, Name: t.Name, Size: t.Size, ChunkSize: uint32(t.ChunkSize), Key: t.Key, Hash: t.Hash,
		Thumbnail: thumb}
	if kind == store.KindAvatar {
		wo.Kind = wire.FileOffer_AVATAR
	}
	if err := f.h.Enqueue(to, &wire.Payload{Kind: &wire.Payload_FileOffer{FileOffer: wo}}, nil); err != nil {
		return store.Transfer{}, err
	}
	return t, nil
}

// toTransfer is t as the API shows it. Offered names are cleaned when they
// arrive; cleaning again here covers names stored before that (text.Clean
// is idempotent), so no front end shows a bidi override.
func (f *Files) toTransfer(t store.Transfer, err error) api.Transfer {
	name := text.Clean(t.Name)
	out := api.Transfer{ID: hex.EncodeToString(t.ID), Peer: t.Peer, Outgoing: t.Outgoing, Name: name, Size: t.Size,
		State: api.TransferState(t.State), Type: mime.TypeByExtension(filepath.Ext(name)), Thumbnail: t.Thumbnail}
	if t.Outgoing || out.State == api.TransferDone {
		out.Path = t.Path
	}
	f.mu.Lock()
	p, ok := f.progress[idOf(t)]
	f.mu.Unlock()
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

// emit tells the front ends about t, unless it carries a display picture:
// those move unseen.
func (f *Files) emit(t store.Transfer, cause error) {
	if t.Kind == store.KindAvatar {
		return
	}
	at := f.toTransfer(t, cause)
	f.h.Emit(api.Event{Transfer: &at})
}

// set records t's new state (and path, if not empty) and tells the front
// ends.
func (f *Files) set(t store.Transfer, st api.TransferState, path string, cause error) {
	if err := f.h.Store().SetTransferState(t.ID, string(st), path); err != nil {
		f.h.Log().Warn("recording a transfer's state", "err", err)
	}
	t.State = string(st)
	if path != "" {
		t.Path = path
	}
	f.record(t)
	f.emit(t, cause)
}

// record keeps a file transfer that ended in the history with its
// contact, as the chat window tells it ("photo.png (19 KB) received"):
// once, under the transfer's ID, however it ended first. Display pictures
// are not the user's transfers and are not recorded. A history that
// could not be written loses the line, not the transfer: only logged.
func (f *Files) record(t store.Transfer) {
	st := api.TransferState(t.State)
	if t.Kind == store.KindAvatar || !(over(st) || st == api.TransferFailed) {
		return
	}
	m := store.Message{ID: hex.EncodeToString(t.ID), Peer: t.Peer, Outgoing: t.Outgoing, Kind: store.EntryFile,
		Text: text.Clean(t.Name), Time: f.h.Now(), File: &store.FileEntry{Size: t.Size, State: t.State}}
	if _, err := f.h.Store().AddEntry(m); err != nil {
		f.h.Log().Warn("recording a file transfer in history", "contact", t.Peer, "err", err)
	}
}

// change records t's new state, tells the front ends and the other side.
func (f *Files) change(t store.Transfer, st api.TransferState) error {
	f.set(t, st, "", nil)
	return f.update(t, st)
}

// update tells the other side of t what changed.
func (f *Files) update(t store.Transfer, state api.TransferState) error {
	return f.h.Enqueue(t.Peer, &wire.Payload{Kind: &wire.Payload_FileUpdate{FileUpdate: &wire.FileUpdate{Id: t.ID, State: string(state)}}}, nil)
}

// startReceive fetches incoming transfer t into its directory, unless it
// is being fetched already.
func (f *Files) startReceive(t store.Transfer) {
	id := idOf(t)
	ctx, cancel := context.WithCancel(f.tasks.Context())
	f.mu.Lock()
	if _, busy := f.running[id]; busy {
		f.mu.Unlock()
		cancel()
		return
	}
	f.running[id] = cancel
	f.mu.Unlock()
	if !f.tasks.Go(func(context.Context) { defer cancel(); f.receive(ctx, t) }) {
		f.done(id) // closing: it resumes at the next sign-in
		cancel()
	}
}

// done forgets a receive that is no longer in flight.
func (f *Files) done(id transfer.ID) {
	f.mu.Lock()
	delete(f.running, id)
	delete(f.progress, id)
	f.mu.Unlock()
}

// receive runs one receive to its end and records how it ended.
func (f *Files) receive(ctx context.Context, t store.Transfer) {
	id := idOf(t)
	final, err := f.fetch(ctx, t)
	f.done(id)
	if err == nil && t.Kind == store.KindAvatar {
		if err = f.av.AvatarArrived(t, final); err != nil {
			f.h.Log().Info("a contact's display picture was refused", "from", t.Peer, "err", err)
			f.set(t, api.TransferFailed, "", err)
			return
		}
	}
	switch {
	case err == nil:
		f.set(t, api.TransferDone, final, nil)
		if err := f.update(t, api.TransferDone); err != nil {
			f.h.Log().Warn("telling the sender", "err", err)
		}
	case ctx.Err() != nil:
		// Paused or cancelled here (the caller recorded which), or the
		// session ended: it resumes at the next sign-in.
	case permanent(err):
		f.set(t, api.TransferFailed, "", err)
	default:
		f.set(t, api.TransferPaused, "", err) // the network: the user resumes
	}
}

// permanent reports whether a receive failed for a reason that trying
// again does not cure.
func permanent(err error) bool {
	return errors.Is(err, transfer.ErrRefused) || errors.Is(err, transfer.ErrCorrupt) || errors.Is(err, transfer.ErrChanged) ||
		errors.Is(err, transfer.ErrDiskFull) || errors.Is(err, transfer.ErrPermission)
}

// fetch runs the receiver, retrying network failures a few times.
func (f *Files) fetch(ctx context.Context, t store.Transfer) (string, error) {
	o := offerOf(t)
	var err error
	for attempt := range ReceiveRetries {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(ReceiveRetryDelay):
			}
		}
		p, perr := f.device(t.Peer)
		if perr != nil {
			return "", perr
		}
		var final string
		final, err = f.recv.Receive(ctx, transfer.Request{Peer: p, Offer: o, Dir: t.Path, Progress: func(pr transfer.Progress) {
			f.mu.Lock()
			f.progress[o.ID] = pr
			f.mu.Unlock()
			// The state as recorded now: t is the copy Accept or Resume
			// held before recording "active", so it still says "incoming"
			// or "paused", and a front end would show an offer instead of
			// the moving bar. The sender's progress reads it likewise.
			cur, err := f.h.Store().Transfer(t.ID)
			if err != nil {
				return
			}
			f.emit(cur, nil)
		}})
		if err == nil || ctx.Err() != nil || permanent(err) {
			return final, err
		}
		f.h.Log().Info("file transfer interrupted", "name", t.Name, "err", err)
	}
	return "", err
}

// stopReceive cancels a receive in flight, if any.
func (f *Files) stopReceive(id transfer.ID) {
	f.mu.Lock()
	cancel := f.running[id]
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// discard stops incoming transfer t for good and removes what arrived of
// it.
func (f *Files) discard(t store.Transfer) {
	f.stopReceive(idOf(t))
	if err := f.recv.Discard(offerOf(t), t.Path); err != nil {
		f.h.Log().Warn("removing a cancelled transfer's data", "err", err)
	}
}

// receiveOffer records a contact's offer for the user to answer; an offer
// of a display picture goes to the picture capability.
func (f *Files) receiveOffer(from string, o *wire.FileOffer) error {
	switch o.Kind {
	case wire.FileOffer_FILE:
	case wire.FileOffer_AVATAR:
		return f.av.AvatarOffered(from, o)
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
		State: string(api.TransferIncoming), Created: f.h.Now(), Thumbnail: thumb}
	if o := offerOf(t); o.Check() != nil {
		return payload.ErrBadRequest
	}
	if _, err := f.h.Store().Transfer(o.Id); err == nil {
		return nil // a resend of an offer we have
	}
	waiting, err := f.h.Store().CountTransfers(from, false, string(api.TransferIncoming))
	if err != nil {
		return err
	}
	if waiting >= MaxPendingOffers {
		f.h.Log().Info("too many offers waiting: declined", "from", from, "waiting", waiting)
		return f.update(t, api.TransferDeclined) // nothing stored
	}
	if err := f.h.Store().PutTransfer(t); err != nil {
		return err
	}
	f.trim(from)
	f.emit(t, nil)
	return nil
}

// finished are the states of an offer that is over, as trim counts them.
var finished = []string{string(api.TransferDone), string(api.TransferDeclined), string(api.TransferCancelled),
	string(api.TransferFailed)}

// trim drops what from's offers store beyond the per-contact bounds:
// the previews of all but the newest MaxThumbnails, and all but the
// newest MaxFinishedOffers offers that are over. A failure is logged: the
// offer itself was taken, and the next one trims again.
func (f *Files) trim(from string) {
	if _, err := f.h.Store().TrimThumbnails(from, MaxThumbnails); err != nil {
		f.h.Log().Warn("dropping old previews", "from", from, "err", err)
	}
	if _, err := f.h.Store().TrimTransfers(from, finished, MaxFinishedOffers); err != nil {
		f.h.Log().Warn("forgetting old offers", "from", from, "err", err)
	}
}

// receiveUpdate applies what the other side of a transfer did.
func (f *Files) receiveUpdate(from string, u *wire.FileUpdate) error {
	t, err := f.h.Store().Transfer(u.Id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Peer != from) {
		return payload.ErrBadRequest
	}
	if err != nil {
		return err
	}
	cur := api.TransferState(t.State)
	if over(cur) {
		return nil
	}
	switch st := api.TransferState(u.State); {
	case st == api.TransferCancelled:
		if t.Outgoing {
			f.sender.Cancel(idOf(t))
		} else {
			f.discard(t)
		}
		f.set(t, api.TransferCancelled, "", nil)
	case st == api.TransferPaused && cur == api.TransferActive:
		f.stopReceive(idOf(t))
		f.set(t, api.TransferPaused, "", nil)
	case st == api.TransferActive && cur == api.TransferPaused: // resumed
		f.set(t, api.TransferActive, "", nil)
		if !t.Outgoing {
			f.startReceive(t)
		}
	case !t.Outgoing:
		return payload.ErrBadRequest // a sender cannot accept, decline or finish
	case st == api.TransferActive && cur == api.TransferOffered:
		f.set(t, api.TransferActive, "", nil)
	case st == api.TransferDeclined, st == api.TransferDone:
		f.sender.Cancel(idOf(t))
		f.set(t, st, "", nil)
	}
	return nil
}

// over reports whether a transfer in state st has ended for good.
func over(st api.TransferState) bool {
	return st == api.TransferDone || st == api.TransferCancelled || st == api.TransferDeclined
}

// transferFor returns the transfer with hex ID id, as the API names it.
func (f *Files) transferFor(id string) (store.Transfer, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return store.Transfer{}, fmt.Errorf("%w: %q is not a transfer ID", api.ErrBadRequest, id)
	}
	t, err := f.h.Store().Transfer(raw)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind == store.KindAvatar) {
		return store.Transfer{}, fmt.Errorf("%w: no transfer %s", api.ErrBadRequest, id)
	}
	return t, err
}

// Send offers the file at path to the accepted contact to and returns the
// transfer's ID.
func (f *Files) Send(to, path string) (string, error) {
	if c, err := f.h.Store().Contact(to); err != nil || api.Relation(c.Relation) != api.RelationAccepted {
		return "", fmt.Errorf("%w: %s", api.ErrNotContact, to)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	// Image files go with a preview; anything else (or an image we cannot
	// read) goes without.
	thumb, _ := picture.Thumbnail(abs)
	t, err := f.offer(to, abs, store.KindFile, thumb)
	if err != nil {
		return "", err
	}
	f.emit(t, nil)
	return hex.EncodeToString(t.ID), nil
}

// incoming returns the incoming offer id that waits for the user's answer.
func (f *Files) incoming(id string) (store.Transfer, error) {
	t, err := f.transferFor(id)
	if err != nil {
		return t, err
	}
	if t.Outgoing || api.TransferState(t.State) != api.TransferIncoming {
		return t, fmt.Errorf("%w: transfer %s is not an offer waiting for an answer", api.ErrBadRequest, id)
	}
	return t, nil
}

// Accept fetches the offered file id into the folder dir (made if
// missing).
func (f *Files) Accept(id, dir string) error {
	t, err := f.incoming(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	t.Path = dir
	f.set(t, api.TransferActive, dir, nil)
	if err := f.update(t, api.TransferActive); err != nil {
		return err
	}
	f.startReceive(t)
	return nil
}

// Decline refuses the offered file id.
func (f *Files) Decline(id string) error {
	t, err := f.incoming(id)
	if err != nil {
		return err
	}
	return f.change(t, api.TransferDeclined)
}

// Pause stops transfer id until either side resumes it.
func (f *Files) Pause(id string) error {
	t, err := f.transferFor(id)
	if err != nil {
		return err
	}
	if st := api.TransferState(t.State); st != api.TransferActive && !(t.Outgoing && st == api.TransferOffered) {
		return fmt.Errorf("%w: transfer %s is %s", api.ErrBadRequest, id, st)
	}
	f.stopReceive(idOf(t))
	return f.change(t, api.TransferPaused)
}

// Resume continues the paused transfer id.
func (f *Files) Resume(id string) error {
	t, err := f.transferFor(id)
	if err != nil {
		return err
	}
	if api.TransferState(t.State) != api.TransferPaused {
		return fmt.Errorf("%w: transfer %s is %s", api.ErrBadRequest, id, t.State)
	}
	f.set(t, api.TransferActive, "", nil)
	if !t.Outgoing {
		f.startReceive(t)
	}
	return f.update(t, api.TransferActive)
}

// Cancel ends transfer id for good on both sides; what arrived of an
// incoming file is removed.
func (f *Files) Cancel(id string) error {
	t, err := f.transferFor(id)
	if err != nil {
		return err
	}
	if over(api.TransferState(t.State)) {
		return fmt.Errorf("%w: transfer %s is over", api.ErrBadRequest, id)
	}
	if t.Outgoing {
		f.sender.Cancel(idOf(t))
	} else if t.Path != "" {
		f.discard(t)
	} else {
		f.stopReceive(idOf(t))
	}
	return f.change(t, api.TransferCancelled)
}

// Transfers lists every file transfer (display pictures are not shown).
func (f *Files) Transfers() ([]api.Transfer, error) {
	ts, err := f.h.Store().Transfers()
	if err != nil {
		return nil, err
	}
	out := make([]api.Transfer, 0, len(ts))
	for _, t := range ts {
		if t.Kind == store.KindAvatar {
			continue
		}
		out = append(out, f.toTransfer(t, nil))
	}
	return out, nil
}

// OfferAvatar offers the display picture at path to the contact to, under
// its file name (which names the picture); the contact takes it unasked.
func (f *Files) OfferAvatar(to, path string) error {
	_, err := f.offer(to, path, store.KindAvatar, nil)
	return err
}

// FetchAvatar fetches a contact's offered display picture into dir without
// asking anyone; Avatars.AvatarArrived is told when it is there. The
// caller checked the offer is a picture it wants.
func (f *Files) FetchAvatar(from string, o *wire.FileOffer, dir string) error {
	t := store.Transfer{ID: o.Id, Peer: from, Name: o.Name, Size: o.Size, ChunkSize: int(o.ChunkSize), Key: o.Key, Hash: o.Hash,
		Path: dir, State: string(api.TransferActive), Created: f.h.Now(), Kind: store.KindAvatar}
	if off := offerOf(t); off.Check() != nil {
		return payload.ErrBadRequest
	}
	if err := f.h.Store().PutTransfer(t); err != nil {
		return err
	}
	f.trim(from) // a contact cycling pictures leaves a row per picture
	if err := f.update(t, api.TransferActive); err != nil {
		return err
	}
	f.startReceive(t)
	return nil
}
