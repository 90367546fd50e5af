package ticket

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// revocationContext separates revocation-list signatures from tickets and
// any other use of the server's key.
const revocationContext = "eserver-revocations-v1"

// maxRevocationList bounds a serialized list before it is decoded: a page
// never exceeds a registry frame.
const maxRevocationList = wire.MaxRegistryFrame

// ErrBadRevocations means a signed revocation list is malformed, too large
// or not signed by the server it should be.
var ErrBadRevocations = errors.New("revocation list invalid")

// Revocation is one entry of the auth server's revocation log: the device
// Peer was revoked, and every ticket it ever got expires by Horizon.
type Revocation struct {
	Serial  uint64
	Peer    peer.ID
	Horizon time.Time
}

// RevocationList is the verified, decoded content of a SignedRevocations:
// the log's entries with Since < serial <= Serial still needed, signed by
// Server at Issued. More says a further page starts after Serial.
type RevocationList struct {
	Server  peer.ID
	Since   uint64
	Serial  uint64
	Issued  time.Time
	More    bool
	Entries []Revocation
	Signed  *wire.SignedRevocations // the original bytes, to pass on
}

// SignRevocations signs l with the server's key; l.Server is ignored and
// taken from the key, so a list always names its signer.
func SignRevocations(serverKey crypto.PrivKey, l RevocationList) (*wire.SignedRevocations, error) {
	server, err := peer.IDFromPrivateKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server peer ID: %w", err)
	}
	w := &wire.RevocationList{
		ServerPeerId: []byte(server),
		Since:        l.Since,
		Serial:       l.Serial,
		IssuedUnix:   l.Issued.Unix(),
		More:         l.More,
		Entries:      make([]*wire.Revocation, 0, len(l.Entries)),
	}
	for _, e := range l.Entries {
		w.Entries = append(w.Entries, &wire.Revocation{Serial: e.Serial, PeerId: []byte(e.Peer), HorizonUnix: e.Horizon.Unix()})
	}
	raw, err := proto.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding revocation list: %w", err)
	}
	if len(raw) > maxRevocationList {
		return nil, fmt.Errorf("encoding revocation list: %d bytes, limit %d", len(raw), maxRevocationList)
	}
	sig, err := serverKey.Sign(append([]byte(revocationContext), raw...))
	if err != nil {
		return nil, fmt.Errorf("signing revocation list: %w", err)
	}
	return &wire.SignedRevocations{List: raw, Signature: sig}, nil
}

// VerifyRevocations checks that sr is a well-formed revocation list signed
// by server and returns its content. The signature is checked before the
// list is decoded, and the size before either, so a forged or oversized list
// costs no allocation beyond its own bytes. Entries must lie in
// (Since, Serial], in increasing order, at most wire.MaxRevocationEntries.
func VerifyRevocations(server peer.ID, sr *wire.SignedRevocations) (*RevocationList, error) {
	if sr == nil || len(sr.List) == 0 || len(sr.Signature) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadRevocations)
	}
	if len(sr.List) > maxRevocationList {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadRevocations, len(sr.List), maxRevocationList)
	}
	if err := serverSigned(server, revocationContext, sr.List, sr.Signature); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRevocations, err)
	}
	var w wire.RevocationList
	if err := proto.Unmarshal(sr.List, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRevocations, err)
	}
	if peer.ID(w.ServerPeerId) != server {
		return nil, fmt.Errorf("%w: signed for another server", ErrBadRevocations)
	}
	if w.Since > w.Serial {
		return nil, fmt.Errorf("%w: since %d after serial %d", ErrBadRevocations, w.Since, w.Serial)
	}
	if len(w.Entries) > wire.MaxRevocationEntries {
		return nil, fmt.Errorf("%w: %d entries, limit %d", ErrBadRevocations, len(w.Entries), wire.MaxRevocationEntries)
	}
	l := &RevocationList{
		Server:  server,
		Since:   w.Since,
		Serial:  w.Serial,
		Issued:  time.Unix(w.IssuedUnix, 0),
		More:    w.More,
		Entries: make([]Revocation, 0, len(w.Entries)),
		Signed:  sr,
	}
	last := w.Since
	for _, e := range w.Entries {
		if e.GetSerial() <= last || e.GetSerial() > w.Serial {
			return nil, fmt.Errorf("%w: entry serial %d out of order or outside (%d, %d]", ErrBadRevocations, e.GetSerial(), w.Since, w.Serial)
		}
		last = e.GetSerial()
		p, err := peer.IDFromBytes(e.GetPeerId())
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: peer ID: %v", ErrBadRevocations, e.GetSerial(), err)
		}
		l.Entries = append(l.Entries, Revocation{Serial: e.GetSerial(), Peer: p, Horizon: time.Unix(e.GetHorizonUnix(), 0)})
	}
	return l, nil
}
