// Package ticket signs and verifies the auth server's tickets: the statement
// "this device (peer ID) belongs to this account until the expiry". Anyone
// holding the server's public key — which is the server's libp2p peer ID —
// verifies a ticket offline; this is the seed's sid/Suid made unforgeable.
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

// signingContext separates ticket signatures from any other use of the key.
const signingContext = "eserver-ticket-v1"

// Roles a ticket may grant.
const (
	RoleNode      = "node"
	RoleSupernode = "supernode"
)

// Errors callers branch on.
var (
	ErrBadSignature = errors.New("ticket signature invalid")
	ErrExpired      = errors.New("ticket expired")
	ErrWrongServer  = errors.New("ticket issued by another server")
	ErrWrongPeer    = errors.New("ticket belongs to another peer")
	ErrMalformed    = errors.New("ticket malformed")
)

// Ticket is the verified, decoded content of a SignedTicket.
type Ticket struct {
	Username string
	Peer     peer.ID
	Device   string
	Issued   time.Time
	Expiry   time.Time
	Role     string
	BoxKey   []byte // X25519 public key of the device
	Server   peer.ID
	Signed   *wire.SignedTicket // the original bytes, to pass on
}

// Sign issues a ticket signed with the server's key.
func Sign(serverKey crypto.PrivKey, t Ticket) (*wire.SignedTicket, error) {
	server, err := peer.IDFromPrivateKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server peer ID: %w", err)
	}
	raw, err := proto.Marshal(&wire.Ticket{
		Username:     t.Username,
		PeerId:       []byte(t.Peer),
		Device:       t.Device,
		IssuedUnix:   t.Issued.Unix(),
		ExpiryUnix:   t.Expiry.Unix(),
		Role:         t.Role,
		BoxKey:       t.BoxKey,
		ServerPeerId: []byte(server),
	})
	if err != nil {
		return nil, fmt.Errorf("encoding ticket: %w", err)
	}
	sig, err := serverKey.Sign(append([]byte(signingContext), raw...))
	if err != nil {
		return nil, fmt.Errorf("signing ticket: %w", err)
	}
	return &wire.SignedTicket{Ticket: raw, Signature: sig}, nil
}

// Verify checks st against the server's identity and the time now and
// returns its content. The server's public key is taken from its peer ID
// (Ed25519 peer IDs embed the key), so no other trust material is needed.
func Verify(server peer.ID, st *wire.SignedTicket, now time.Time) (*Ticket, error) {
	if st == nil || len(st.Ticket) == 0 || len(st.Signature) == 0 {
		return nil, ErrMalformed
	}
	pub, err := server.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("server public key from %s: %w", server, err)
	}
	ok, err := pub.Verify(append([]byte(signingContext), st.Ticket...), st.Signature)
	if err != nil || !ok {
		return nil, ErrBadSignature
	}
	var w wire.Ticket
	if err := proto.Unmarshal(st.Ticket, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if peer.ID(w.ServerPeerId) != server {
		return nil, ErrWrongServer
	}
	p, err := peer.IDFromBytes(w.PeerId)
	if err != nil {
		return nil, fmt.Errorf("%w: peer ID: %v", ErrMalformed, err)
	}
	t := &Ticket{
		Username: w.Username,
		Peer:     p,
		Device:   w.Device,
		Issued:   time.Unix(w.IssuedUnix, 0),
		Expiry:   time.Unix(w.ExpiryUnix, 0),
		Role:     w.Role,
		BoxKey:   w.BoxKey,
		Server:   server,
		Signed:   st,
	}
	if t.Username == "" {
		return nil, fmt.Errorf("%w: no username", ErrMalformed)
	}
	if !now.Before(t.Expiry) {
		return nil, ErrExpired
	}
	return t, nil
}

// VerifySignature checks only that st is a well-formed ticket signed by
// server, whatever its expiry. It is for sealing mail to a device that has
// been offline longer than a ticket lives: the binding of its keys to the
// account still holds, only its freshness is gone.
func VerifySignature(server peer.ID, st *wire.SignedTicket) (*Ticket, error) {
	t, err := Verify(server, st, time.Time{})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// VerifyFor is Verify plus the check that the ticket belongs to remote, the
// authenticated peer on the other end of a stream. The sender of anything is
// that peer and its ticket, never a name written in a message.
func VerifyFor(server, remote peer.ID, st *wire.SignedTicket, now time.Time) (*Ticket, error) {
	t, err := Verify(server, st, now)
	if err != nil {
		return nil, err
	}
	if t.Peer != remote {
		return nil, ErrWrongPeer
	}
	return t, nil
}
