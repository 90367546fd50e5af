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

// ErrPassMismatch is what VerifyPass returns, wrapped, for a pass that is
// not the one issued with the ticket it is presented with: another
// account, device, server or issuance, or a card in place of the ticket.
var ErrPassMismatch = errors.New("region pass does not belong to the ticket")

// Pass is the verified content of a SignedRegionPass: the auth server's
// statement that the device of its ticket signed in (or renewed) from an
// address in Region.
//
// The region is not in the ticket because the ticket travels to everyone
// one talks to (message streams, mail, contact requests, the members of
// multi-party conversations), and the user's country must not: the pass
// goes only where the user presents it, to the homes of a regional room
// they post in. It is as good as the address the server saw: behind a
// relay or a VPN it is the relay's or the VPN's country.
type Pass struct {
	Username string
	Peer     peer.ID
	Region   string // ISO 3166-1 alpha-2 (wire.ValidRegion)
	Issued   time.Time
	Expiry   time.Time
	Server   peer.ID
	Signed   *wire.SignedRegionPass // the original bytes, to present
}

// SignPass issues the region pass of t: region for t's account and device,
// valid exactly as long as t (the same issued and expiry times, which tie
// the pass to that one issuance). It is signed under its own context, so
// it never verifies as a ticket or a card, nor they as a pass.
func SignPass(serverKey crypto.PrivKey, t Ticket, region string) (*wire.SignedRegionPass, error) {
	if err := wire.ValidRegion(region); err != nil {
		return nil, fmt.Errorf("signing region pass: %w", err)
	}
	server, err := peer.IDFromPrivateKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server peer ID: %w", err)
	}
	raw, err := proto.Marshal(&wire.RegionPass{
		Username:     t.Username,
		PeerId:       []byte(t.Peer),
		Region:       region,
		IssuedUnix:   t.Issued.Unix(),
		ExpiryUnix:   t.Expiry.Unix(),
		ServerPeerId: []byte(server),
	})
	if err != nil {
		return nil, fmt.Errorf("encoding region pass: %w", err)
	}
	if len(raw) > wire.MaxRegionPass {
		return nil, fmt.Errorf("region pass of %d bytes, more than %d", len(raw), wire.MaxRegionPass)
	}
	sig, err := serverKey.Sign(append([]byte(passContext), raw...))
	if err != nil {
		return nil, fmt.Errorf("signing region pass: %w", err)
	}
	return &wire.SignedRegionPass{Pass: raw, Signature: sig}, nil
}

// VerifyPass checks sp against the server's identity, the time now and t,
// the verified ticket it is presented with, and returns its content. t
// must be a ticket of server (not a card), and the pass the one issued
// with it: the same username, device and issuance. A home that reads a
// region from anything but a pass that VerifyPass accepted against the
// request's own verified ticket trusts the client.
func VerifyPass(server peer.ID, sp *wire.SignedRegionPass, t *Ticket, now time.Time) (*Pass, error) {
	if sp == nil || len(sp.Pass) == 0 || len(sp.Signature) == 0 {
		return nil, fmt.Errorf("region pass: %w", ErrMalformed)
	}
	if len(sp.Pass) > wire.MaxRegionPass {
		return nil, fmt.Errorf("region pass: %w: %d bytes, more than %d", ErrMalformed, len(sp.Pass), wire.MaxRegionPass)
	}
	if err := serverSigned(server, passContext, sp.Pass, sp.Signature); err != nil {
		return nil, fmt.Errorf("region pass: %w", err)
	}
	var w wire.RegionPass
	if err := proto.Unmarshal(sp.Pass, &w); err != nil {
		return nil, fmt.Errorf("region pass: %w: %v", ErrMalformed, err)
	}
	if peer.ID(w.ServerPeerId) != server {
		return nil, fmt.Errorf("region pass: %w", ErrWrongServer)
	}
	p, err := peer.IDFromBytes(w.PeerId)
	if err != nil {
		return nil, fmt.Errorf("region pass: %w: peer ID: %v", ErrMalformed, err)
	}
	if w.Username == "" {
		return nil, fmt.Errorf("region pass: %w: no username", ErrMalformed)
	}
	if err := wire.ValidRegion(w.Region); err != nil {
		return nil, fmt.Errorf("region pass: %w: %v", ErrMalformed, err)
	}
	ps := &Pass{
		Username: w.Username,
		Peer:     p,
		Region:   w.Region,
		Issued:   time.Unix(w.IssuedUnix, 0),
		Expiry:   time.Unix(w.ExpiryUnix, 0),
		Server:   server,
		Signed:   sp,
	}
	if !now.Before(ps.Expiry) {
		return nil, fmt.Errorf("region pass: %w", ErrExpired)
	}
	if err := ps.belongsTo(t); err != nil {
		return nil, err
	}
	return ps, nil
}

// belongsTo checks that p is the pass issued with t.
func (p *Pass) belongsTo(t *Ticket) error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: no ticket", ErrPassMismatch)
	case t.Card:
		// A card is a stranger's view of a ticket; it proves no device.
		return fmt.Errorf("%w: a card, not a ticket", ErrPassMismatch)
	case t.Server != p.Server:
		return fmt.Errorf("%w: ticket of another server", ErrPassMismatch)
	case t.Peer != p.Peer:
		return fmt.Errorf("%w: pass for device %s, ticket for %s", ErrPassMismatch, p.Peer, t.Peer)
	case t.Username != p.Username:
		return fmt.Errorf("%w: pass for %q, ticket for %q", ErrPassMismatch, p.Username, t.Username)
	case !t.Issued.Equal(p.Issued) || !t.Expiry.Equal(p.Expiry):
		// Another issuance of the same device: an old pass must not
		// outlive the renewal that placed the device elsewhere.
		return fmt.Errorf("%w: issued with another ticket of the device", ErrPassMismatch)
	}
	return nil
}

// BelongsTo reports whether p is the pass issued with t (the check
// VerifyPass makes): what a node holding both asks before presenting p
// with t.
func (p *Pass) BelongsTo(t *Ticket) bool { return p != nil && p.belongsTo(t) == nil }
