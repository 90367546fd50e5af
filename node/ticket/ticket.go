// Package ticket signs and verifies the auth server's tickets: the statement
// "this device (peer ID) belongs to this account until the expiry". Anyone
// holding the server's public key — which is the server's libp2p peer ID —
// verifies a ticket offline; this is the seed's sid/Suid made unforgeable.
package ticket

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// Signing contexts separate ticket, card and region pass signatures from
// each other and from any other use of the key: a card never verifies as a
// ticket, so it can never authenticate a request, and a pass (pass.go)
// never verifies as either.
const (
	signingContext = "eserver-ticket-v1"
	cardContext    = "eserver-card-v1"
	passContext    = "eserver-region-pass-v1"
)

// CardGrain is the unit card times are rounded to: a card tells a stranger
// that the account had a device online that day, not when it signed in.
const CardGrain = 24 * time.Hour

// AccountGrain is the unit a ticket's account creation time is rounded up
// to. The ticket goes to everyone the user talks to, and an exact
// registration second would tell them when the user signed up and single
// the account out among those registered that day; ten minutes is coarse
// enough for that and fine enough for a room's new-account gate, which is
// counted in minutes. Rounding up, never down, makes an account look
// younger than it is, so the gate may hold a member up to AccountGrain
// longer but never lets one post early.
const AccountGrain = 10 * time.Minute

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
	// ErrCreatedAfterIssue refuses a ticket claiming an account created
	// after the ticket was issued: no honest server signs one, and a gate
	// must not do arithmetic on it.
	ErrCreatedAfterIssue = errors.New("ticket names an account created after its issue")
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
	// AccountCreated is when the account was registered, as signed:
	// rounded up to AccountGrain and never after Issued (CoarseCreated).
	// Zero when unknown — a supernode's ticket, or one issued before the
	// server signed it — which a room's new-account gate refuses. Cards
	// never carry it.
	AccountCreated time.Time
	// Moderates are the regions (country codes, sorted) whose regional
	// rooms the auth server's operator made this account a moderator of;
	// the authority comes from the ticket, as the room has no owner.
	// Cards never carry it.
	Moderates []string
	Signed    *wire.SignedTicket // the original bytes, to pass on
	// PublicCard is the auth server's card for this ticket (SignCard), when
	// the ticket came from a login result; the device publishes it at the
	// rendezvous for strangers.
	PublicCard *wire.SignedTicket
	// Card marks the public card of a ticket (see SignCard): no device
	// name, no role, times rounded to CardGrain. It seals to the device;
	// it never authenticates one.
	Card bool
}

// CardOf is the part of t a stranger needs to start a contact request —
// the account, the device's peer ID (for its prekeys) and its box key (to
// seal mail to it) — with the times widened to whole CardGrain periods so
// they do not tell when the device signed in. Tickets issued within the
// same period give the same card.
func CardOf(t Ticket) Ticket {
	expiry := t.Expiry.Truncate(CardGrain)
	if expiry.Before(t.Expiry) {
		expiry = expiry.Add(CardGrain)
	}
	return Ticket{
		Username: t.Username,
		Peer:     t.Peer,
		Issued:   t.Issued.Truncate(CardGrain),
		Expiry:   expiry,
		BoxKey:   t.BoxKey,
		Server:   t.Server,
		Card:     true,
	}
}

// CoarseCreated is the account creation time a ticket issued at issued
// carries for an account created at created: rounded up to AccountGrain,
// and no later than issued (a ticket issued within the grain after
// registration says "just now", which its issue time tells anyway).
// Zero stays zero.
func CoarseCreated(created, issued time.Time) time.Time {
	if created.IsZero() {
		return time.Time{}
	}
	up := created.Truncate(AccountGrain)
	if up.Before(created) {
		up = up.Add(AccountGrain)
	}
	if up.After(issued) {
		up = issued
	}
	return up.Truncate(time.Second) // the wire carries whole seconds
}

// Sign issues a ticket signed with the server's key. The account creation
// time is signed as CoarseCreated, whatever precision t has, so no caller
// can leak the exact registration time by mistake.
func Sign(serverKey crypto.PrivKey, t Ticket) (*wire.SignedTicket, error) {
	return sign(serverKey, t, signingContext)
}

// SignCard issues the public card of t (CardOf) signed with the server's
// key. The auth server hands it out with every ticket; the rendezvous
// shows it, instead of the ticket, to askers the user gave no visibility
// token.
func SignCard(serverKey crypto.PrivKey, t Ticket) (*wire.SignedTicket, error) {
	return sign(serverKey, CardOf(t), cardContext)
}

func sign(serverKey crypto.PrivKey, t Ticket, context string) (*wire.SignedTicket, error) {
	server, err := peer.IDFromPrivateKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server peer ID: %w", err)
	}
	var created int64
	if c := CoarseCreated(t.AccountCreated, t.Issued); !c.IsZero() {
		created = c.Unix()
	}
	moderates := slices.Compact(slices.Sorted(slices.Values(t.Moderates)))
	if err := checkModerates(moderates); err != nil {
		return nil, err
	}
	raw, err := proto.Marshal(&wire.Ticket{
		Username:           t.Username,
		PeerId:             []byte(t.Peer),
		Device:             t.Device,
		IssuedUnix:         t.Issued.Unix(),
		ExpiryUnix:         t.Expiry.Unix(),
		Role:               t.Role,
		BoxKey:             t.BoxKey,
		ServerPeerId:       []byte(server),
		AccountCreatedUnix: created,
		Moderates:          moderates,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding ticket: %w", err)
	}
	sig, err := serverKey.Sign(append([]byte(context), raw...))
	if err != nil {
		return nil, fmt.Errorf("signing ticket: %w", err)
	}
	return &wire.SignedTicket{Ticket: raw, Signature: sig}, nil
}

// Verify checks st against the server's identity and the time now and
// returns its content. The server's public key is taken from its peer ID
// (Ed25519 peer IDs embed the key), so no other trust material is needed.
func Verify(server peer.ID, st *wire.SignedTicket, now time.Time) (*Ticket, error) {
	return verify(server, st, now, signingContext)
}

// VerifyCard checks a card (SignCard) against the server's identity and
// the time now and returns its content, with Card set.
func VerifyCard(server peer.ID, st *wire.SignedTicket, now time.Time) (*Ticket, error) {
	t, err := verify(server, st, now, cardContext)
	if err != nil {
		return nil, fmt.Errorf("card: %w", err)
	}
	t.Card = true
	return t, nil
}

// serverSigned checks that sig is server's signature over context || body.
// Every document the auth server signs (tickets, cards, region passes,
// revocation lists) has its own context, so none is ever taken for
// another.
func serverSigned(server peer.ID, context string, body, sig []byte) error {
	k := sigKey(server, context, body, sig)
	if verifiedSigs.has(k) {
		return nil
	}
	pub, err := server.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("server public key from %s: %w", server, err)
	}
	ok, err := pub.Verify(append([]byte(context), body...), sig)
	if err != nil || !ok {
		return ErrBadSignature
	}
	verifiedSigs.add(k)
	return nil
}

func verify(server peer.ID, st *wire.SignedTicket, now time.Time, context string) (*Ticket, error) {
	if st == nil || len(st.Ticket) == 0 || len(st.Signature) == 0 {
		return nil, ErrMalformed
	}
	if err := serverSigned(server, context, st.Ticket, st.Signature); err != nil {
		return nil, err
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
	switch c := w.AccountCreatedUnix; {
	case c < 0:
		return nil, fmt.Errorf("%w: account created at %d", ErrMalformed, c)
	case c > w.IssuedUnix:
		return nil, fmt.Errorf("%w: created %v, issued %v", ErrCreatedAfterIssue, time.Unix(c, 0).UTC(), t.Issued.UTC())
	case c > 0:
		t.AccountCreated = time.Unix(c, 0)
	}
	if err := checkModerates(w.Moderates); err != nil {
		return nil, err
	}
	t.Moderates = w.Moderates
	if !now.Before(t.Expiry) {
		return nil, ErrExpired
	}
	return t, nil
}

// checkModerates checks a ticket's moderated regions: valid country codes,
// sorted without repeats (so one account's grants encode one way), at most
// wire.MaxModeratedRegions.
func checkModerates(rs []string) error {
	if len(rs) > wire.MaxModeratedRegions {
		return fmt.Errorf("%w: moderates %d regions, limit %d", ErrMalformed, len(rs), wire.MaxModeratedRegions)
	}
	for i, r := range rs {
		if err := wire.ValidRegion(r); err != nil {
			return fmt.Errorf("%w: moderates %q: %v", ErrMalformed, r, err)
		}
		if i > 0 && rs[i-1] >= r {
			return fmt.Errorf("%w: moderated regions not sorted or repeated", ErrMalformed)
		}
	}
	return nil
}

// ModeratesRegion reports whether t makes its holder a moderator of the
// regional room of region.
func (t *Ticket) ModeratesRegion(region string) bool {
	return region != "" && slices.Contains(t.Moderates, region)
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

// Matches reports whether card is the public card of t: the same account,
// device, box key and server, and a validity covering t's.
func (card *Ticket) Matches(t *Ticket) bool {
	return card.Card && card.Username == t.Username && card.Peer == t.Peer && card.Server == t.Server &&
		bytes.Equal(card.BoxKey, t.BoxKey) && !card.Issued.After(t.Issued) && !card.Expiry.Before(t.Expiry)
}
