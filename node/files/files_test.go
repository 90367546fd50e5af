package files

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/transfer"
	"eserver/node/wire"
)

// fakeHost is a Host with a real store and no network.
type fakeHost struct {
	st     *store.Store
	sent   []*wire.Payload
	events []api.Event
}

func (h *fakeHost) Libp2p() host.Host   { return nil }
func (h *fakeHost) Store() *store.Store { return h.st }
func (h *fakeHost) Enqueue(_ string, p *wire.Payload, _ *store.Message) error {
	h.sent = append(h.sent, p)
	return nil
}
func (h *fakeHost) Emit(e api.Event)  { h.events = append(h.events, e) }
func (h *fakeHost) Now() time.Time    { return time.Unix(1_000_000, 0) }
func (h *fakeHost) Log() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeAvatars records the picture offers handed to it.
type fakeAvatars struct {
	offered []*wire.FileOffer
	err     error
}

func (a *fakeAvatars) AvatarOffered(_ string, o *wire.FileOffer) error {
	a.offered = append(a.offered, o)
	return a.err
}
func (a *fakeAvatars) AvatarArrived(store.Transfer, string) error { return a.err }

// newFiles returns the capability over a fresh store in which alice is an
// accepted contact.
func newFiles(t *testing.T) (*Files, *fakeHost, *fakeAvatars) {
	t.Helper()
	st := storetest.Open(t)
	if err := st.PutContact(store.Contact{Username: "alice", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	h, av := &fakeHost{st: st}, &fakeAvatars{}
	f := New(h, av)
	t.Cleanup(f.Close)
	return f, h, av
}

func fileOffer(mod func(o *wire.FileOffer)) *wire.FileOffer {
	o := &wire.FileOffer{Id: bytes.Repeat([]byte{1}, 16), Name: "holiday.mov", Size: 1 << 20,
		ChunkSize: transfer.MinChunkSize, Key: bytes.Repeat([]byte{2}, 32), Hash: bytes.Repeat([]byte{3}, transfer.HashSize)}
	if mod != nil {
		mod(o)
	}
	return o
}

func newID() []byte {
	id := transfer.NewID()
	return id[:]
}

func inbound(from string, p *wire.Payload) *payload.Inbound {
	return &payload.Inbound{Ticket: &ticket.Ticket{Username: from}, Payload: p}
}

// TestReceiveOffer: a well-formed offer is recorded for the user to answer
// and shown once; a malformed one is refused with ErrBadRequest and
// nothing is recorded.
func TestReceiveOffer(t *testing.T) {
	tests := []struct {
		name string
		mod  func(o *wire.FileOffer)
		want error
	}{
		{"good", nil, nil},
		{"unknown kind", func(o *wire.FileOffer) { o.Kind = 7 }, payload.ErrBadRequest},
		{"short ID", func(o *wire.FileOffer) { o.Id = o.Id[:15] }, payload.ErrBadRequest},
		{"short key", func(o *wire.FileOffer) { o.Key = o.Key[:31] }, payload.ErrBadRequest},
		{"no hash", func(o *wire.FileOffer) { o.Hash = nil }, payload.ErrBadRequest},
		{"chunks too small", func(o *wire.FileOffer) { o.ChunkSize = transfer.MinChunkSize - 1 }, payload.ErrBadRequest},
		{"file too large", func(o *wire.FileOffer) { o.Size = transfer.MaxFileSize + 1 }, payload.ErrBadRequest},
		{"negative size", func(o *wire.FileOffer) { o.Size = -1 }, payload.ErrBadRequest},
		{"preview that is no picture", func(o *wire.FileOffer) { o.Thumbnail = []byte("not a picture") }, nil},
		{"name with a path", func(o *wire.FileOffer) { o.Name = "../../.bashrc" }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, h, _ := newFiles(t)
			o := fileOffer(tc.mod)
			err := f.Kinds()[0].Handle(inbound("alice", &wire.Payload{Kind: &wire.Payload_FileOffer{FileOffer: o}}))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("offer = %v, want %v", err, tc.want)
			}
			ts, _ := h.st.Transfers()
			if tc.want != nil {
				if len(ts) != 0 || len(h.events) != 0 {
					t.Fatalf("a refused offer left %d transfers and %d events", len(ts), len(h.events))
				}
				return
			}
			if len(ts) != 1 || ts[0].State != string(api.TransferIncoming) || ts[0].Outgoing || ts[0].Peer != "alice" {
				t.Fatalf("recorded %+v", ts)
			}
			if ts[0].Thumbnail != nil || ts[0].Name != transfer.CleanName(o.Name) {
				t.Fatalf("recorded name %q, preview %q", ts[0].Name, ts[0].Thumbnail)
			}
			if len(h.events) != 1 || h.events[0].Transfer == nil || h.events[0].Transfer.ID != hex.EncodeToString(o.Id) {
				t.Fatalf("events %+v", h.events)
			}
			// A resend of the same offer changes nothing.
			if err := f.receiveOffer("alice", o); err != nil || len(h.events) != 1 {
				t.Fatalf("resend: %v, %d events", err, len(h.events))
			}
		})
	}
}

// TestAvatarOfferGoesToPictures: an offer of kind avatar is the picture
// capability's, refusal included; nothing is recorded here.
func TestAvatarOfferGoesToPictures(t *testing.T) {
	f, h, av := newFiles(t)
	o := fileOffer(func(o *wire.FileOffer) { o.Kind = wire.FileOffer_AVATAR })
	av.err = payload.ErrBadRequest
	if err := f.receiveOffer("alice", o); !errors.Is(err, payload.ErrBadRequest) {
		t.Fatalf("offer = %v, want the picture capability's refusal", err)
	}
	if len(av.offered) != 1 || av.offered[0] != o {
		t.Fatalf("handed %d offers to pictures", len(av.offered))
	}
	if ts, _ := h.st.Transfers(); len(ts) != 0 || len(h.events) != 0 {
		t.Fatalf("%d transfers, %d events", len(ts), len(h.events))
	}
}

// putTransfer records a transfer with alice in state st.
func putTransfer(t *testing.T, h *fakeHost, outgoing bool, st api.TransferState, kind string) store.Transfer {
	t.Helper()
	tr := store.Transfer{ID: newID(), Peer: "alice", Outgoing: outgoing, Name: "a.bin", Size: 1 << 20,
		ChunkSize: transfer.MinChunkSize, Key: bytes.Repeat([]byte{2}, 32), Hash: bytes.Repeat([]byte{3}, transfer.HashSize),
		Path: t.TempDir(), State: string(st), Created: h.Now(), Kind: kind}
	if err := h.st.PutTransfer(tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestReceiveUpdate: each side may change a transfer only as its role
// allows; an update for a transfer we do not share with the sender is
// refused, one for a finished transfer is ignored.
func TestReceiveUpdate(t *testing.T) {
	tests := []struct {
		name     string
		from     string
		outgoing bool
		cur, st  api.TransferState
		want     error
		after    api.TransferState // the state recorded afterwards
	}{
		{"receiver accepts", "alice", true, api.TransferOffered, api.TransferActive, nil, api.TransferActive},
		{"receiver declines", "alice", true, api.TransferOffered, api.TransferDeclined, nil, api.TransferDeclined},
		{"receiver finished", "alice", true, api.TransferActive, api.TransferDone, nil, api.TransferDone},
		{"receiver pauses", "alice", true, api.TransferActive, api.TransferPaused, nil, api.TransferPaused},
		{"receiver resumes", "alice", true, api.TransferPaused, api.TransferActive, nil, api.TransferActive},
		{"sender cancels", "alice", false, api.TransferActive, api.TransferCancelled, nil, api.TransferCancelled},
		{"sender pauses", "alice", false, api.TransferActive, api.TransferPaused, nil, api.TransferPaused},
		{"sender cannot accept", "alice", false, api.TransferIncoming, api.TransferActive, payload.ErrBadRequest, api.TransferIncoming},
		{"sender cannot decline", "alice", false, api.TransferIncoming, api.TransferDeclined, payload.ErrBadRequest, api.TransferIncoming},
		{"sender cannot finish", "alice", false, api.TransferActive, api.TransferDone, payload.ErrBadRequest, api.TransferActive},
		{"someone else's transfer", "mallory", true, api.TransferOffered, api.TransferCancelled, payload.ErrBadRequest, api.TransferOffered},
		{"over already", "alice", true, api.TransferDone, api.TransferCancelled, nil, api.TransferDone},
		{"unknown state", "alice", true, api.TransferOffered, "exploded", nil, api.TransferOffered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, h, _ := newFiles(t)
			tr := putTransfer(t, h, tc.outgoing, tc.cur, store.KindFile)
			u := &wire.FileUpdate{Id: tr.ID, State: string(tc.st)}
			err := f.Kinds()[1].Handle(inbound(tc.from, &wire.Payload{Kind: &wire.Payload_FileUpdate{FileUpdate: u}}))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("update = %v, want %v", err, tc.want)
			}
			got, err := h.st.Transfer(tr.ID)
			if err != nil || api.TransferState(got.State) != tc.after {
				t.Fatalf("state %q (%v), want %q", got.State, err, tc.after)
			}
		})
	}
	f, _, _ := newFiles(t)
	u := &wire.FileUpdate{Id: newID(), State: string(api.TransferCancelled)}
	if err := f.receiveUpdate("alice", u); !errors.Is(err, payload.ErrBadRequest) {
		t.Fatalf("update of an unknown transfer = %v", err)
	}
}

// TestAPIRefusals: the API refuses what does not fit a transfer's state,
// and never shows or touches display pictures.
func TestAPIRefusals(t *testing.T) {
	f, h, _ := newFiles(t)
	in := putTransfer(t, h, false, api.TransferIncoming, store.KindFile)
	out := putTransfer(t, h, true, api.TransferOffered, store.KindFile)
	done := putTransfer(t, h, true, api.TransferDone, store.KindFile)
	pic := putTransfer(t, h, false, api.TransferIncoming, store.KindAvatar)
	id := func(tr store.Transfer) string { return hex.EncodeToString(tr.ID) }
	for _, c := range []struct {
		name string
		err  error
	}{
		{"accept: not an ID", f.Accept("xyz", t.TempDir())},
		{"accept: unknown", f.Accept(hex.EncodeToString(newID()), t.TempDir())},
		{"accept: a display picture", f.Accept(id(pic), t.TempDir())},
		{"accept: our own offer", f.Accept(id(out), t.TempDir())},
		{"decline: our own offer", f.Decline(id(out))},
		{"pause: an unanswered offer to us", f.Pause(id(in))},
		{"resume: not paused", f.Resume(id(out))},
		{"cancel: over", f.Cancel(id(done))},
	} {
		if !errors.Is(c.err, api.ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", c.name, c.err)
		}
	}
	if _, err := f.Send("bob", "/dev/null"); !errors.Is(err, api.ErrNotContact) {
		t.Errorf("sending to a stranger: %v, want ErrNotContact", err)
	}
	ts, err := f.Transfers()
	if err != nil || len(ts) != 3 {
		t.Fatalf("Transfers = %d, %v; want the 3 files and not the picture", len(ts), err)
	}
	if len(h.sent) != 0 {
		t.Fatalf("refused calls sent %d payloads", len(h.sent))
	}
}
