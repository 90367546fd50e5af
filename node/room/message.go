package room

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// MessageContext separates a device's signature over a room message from
// every other use of its key — a room op included, so a message can never
// pass for a moderation action nor the reverse.
const MessageContext = "eserver-room-msg-v1"

// Message is a verified room message (VerifyMessage).
type Message struct {
	Room   string
	ID     string
	Author string
	Time   time.Time
	Text   string
	// Sealed is an invite-only room's text, end-to-end encrypted (Text is
	// then empty): its shape is checked here, its contents only by a
	// member holding the author's sender key (node/rooms).
	Sealed *wire.RoomSealed
	// Nick and Avatar are how the author shows itself to members who are
	// not its contacts, as it signed them: a display name (as sent: the
	// front ends clean it) and its picture's SHA-256 (nil: the default).
	// A sealed message carries neither.
	Nick   string
	Avatar []byte
	// Ticket is the author's verified ticket; Signed is the message as it
	// arrived, to store and pass on unchanged.
	Ticket *ticket.Ticket
	Signed *wire.SignedRoomMessage
}

// SignMessage encodes m and signs it with key, the author device's,
// attaching the device's ticket st.
func SignMessage(key Signer, st *wire.SignedTicket, m *wire.RoomMessage) (*wire.SignedRoomMessage, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding a room message: %w", err)
	}
	if len(b) > wire.MaxRoomMessage {
		return nil, fmt.Errorf("%w: message of %d bytes, limit %d", ErrMalformed, len(b), wire.MaxRoomMessage)
	}
	sig, err := key.Sign(append([]byte(MessageContext), b...))
	if err != nil {
		return nil, fmt.Errorf("signing a room message: %w", err)
	}
	return &wire.SignedRoomMessage{Message: b, Signature: sig, Ticket: st}, nil
}

// DecodeMessage parses b as a SignedRoomMessage, checking its size before
// decoding. It verifies nothing: VerifyMessage does.
func DecodeMessage(b []byte) (*wire.SignedRoomMessage, error) {
	if len(b) > wire.MaxSignedRoomMessage {
		return nil, fmt.Errorf("%w: message of %d bytes, limit %d", ErrMalformed, len(b), wire.MaxSignedRoomMessage)
	}
	var s wire.SignedRoomMessage
	if err := proto.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &s, nil
}

// VerifyMessage checks the signed message s at time now: its shape and
// limits; the author's ticket (signed by c.Server, a node's, valid at the
// message's time and issued before it, its device not revoked per
// c.Revoked); the device's signature over the message under
// MessageContext; that the ticket's username is the message's author; and
// its time (not beyond wire.MaxClockSkew in the future, not older than
// c.MaxAge when set — a home taking a new message sets it). It says
// nothing about whether the author may post: Admit does, against the
// room's state. The error wraps ErrMalformed, ErrForged, ErrUnauthorized
// or ErrBadTime.
func VerifyMessage(s *wire.SignedRoomMessage, now time.Time, c Checks) (*Message, error) {
	switch {
	case s == nil:
		return nil, fmt.Errorf("%w: no message", ErrMalformed)
	case len(s.Message) == 0 || len(s.Message) > wire.MaxRoomMessage:
		return nil, fmt.Errorf("%w: message of %d bytes, want 1..%d", ErrMalformed, len(s.Message), wire.MaxRoomMessage)
	case len(s.Signature) == 0 || len(s.Signature) > 128:
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(s.Signature))
	case s.Ticket == nil:
		return nil, fmt.Errorf("%w: no ticket", ErrMalformed)
	case proto.Size(s.Ticket) > wire.MaxPrekeyTicket:
		return nil, fmt.Errorf("%w: ticket of %d bytes, limit %d", ErrMalformed, proto.Size(s.Ticket), wire.MaxPrekeyTicket)
	case hasUnknown(s.ProtoReflect()):
		return nil, fmt.Errorf("%w: unknown fields", ErrMalformed)
	}
	m, err := parseMessage(s.Message)
	if err != nil {
		return nil, err
	}
	m.Signed = s
	if m.Ticket, err = verifyAuthor(s.Ticket, m.Author, m.Time, append([]byte(MessageContext), s.Message...), s.Signature, c); err != nil {
		return nil, err
	}
	if m.Time.After(now.Add(wire.MaxClockSkew)) {
		return nil, fmt.Errorf("%w: message signed at %v, in the future of %v", ErrBadTime, m.Time, now)
	}
	if c.MaxAge > 0 && m.Time.Before(now.Add(-c.MaxAge)) {
		return nil, fmt.Errorf("%w: message signed at %v, more than %v before %v", ErrBadTime, m.Time, c.MaxAge, now)
	}
	return m, nil
}

// parseMessage decodes and validates message bytes.
func parseMessage(b []byte) (*Message, error) {
	var w wire.RoomMessage
	if err := proto.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if hasUnknown(w.ProtoReflect()) {
		return nil, fmt.Errorf("%w: unknown fields in message", ErrMalformed)
	}
	if err := wire.ValidRoomName(w.Room); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := wire.ValidUsername(w.Author); err != nil {
		return nil, fmt.Errorf("%w: author: %w", ErrMalformed, err)
	}
	switch {
	case w.Id == "" || len(w.Id) > wire.MaxRoomMessageID || !utf8.ValidString(w.Id):
		return nil, fmt.Errorf("%w: message ID of %d bytes, want 1..%d of UTF-8", ErrMalformed, len(w.Id), wire.MaxRoomMessageID)
	case w.Sealed != nil:
		if err := checkSealed(w.Sealed, w.Text); err != nil {
			return nil, err
		}
	case w.Text == "" || len(w.Text) > wire.MaxRoomText || !utf8.ValidString(w.Text):
		return nil, fmt.Errorf("%w: text of %d bytes, want 1..%d of UTF-8", ErrMalformed, len(w.Text), wire.MaxRoomText)
	}
	switch {
	case len(w.Nick) > wire.MaxNick || !utf8.ValidString(w.Nick):
		return nil, fmt.Errorf("%w: nick of %d bytes, want 0..%d of UTF-8", ErrMalformed, len(w.Nick), wire.MaxNick)
	case len(w.Avatar) != 0 && len(w.Avatar) != sha256.Size:
		return nil, fmt.Errorf("%w: picture hash of %d bytes, want %d or none", ErrMalformed, len(w.Avatar), sha256.Size)
	case w.Sealed != nil && (w.Nick != "" || len(w.Avatar) != 0):
		return nil, fmt.Errorf("%w: a sealed message with a nick or picture in plain text", ErrMalformed)
	case w.TimeUnixMilli <= 0:
		return nil, fmt.Errorf("%w: time %d", ErrMalformed, w.TimeUnixMilli)
	}
	return &Message{Room: w.Room, ID: w.Id, Author: w.Author, Time: time.UnixMilli(w.TimeUnixMilli), Text: w.Text, Sealed: w.Sealed,
		Nick: w.Nick, Avatar: w.Avatar}, nil
}

// checkSealed checks the shape of a sealed text: no plaintext beside it,
// a key ID and a nonce of their sizes, a ciphertext of a text of 1 to
// wire.MaxRoomText bytes and its tag.
func checkSealed(s *wire.RoomSealed, text string) error {
	switch {
	case text != "":
		return fmt.Errorf("%w: a message both sealed and in plain text", ErrMalformed)
	case hasUnknown(s.ProtoReflect()):
		return fmt.Errorf("%w: unknown fields in a sealed text", ErrMalformed)
	case len(s.KeyId) != wire.RoomKeyID:
		return fmt.Errorf("%w: sender key ID of %d bytes, want %d", ErrMalformed, len(s.KeyId), wire.RoomKeyID)
	case len(s.Nonce) != wire.RoomSealNonce:
		return fmt.Errorf("%w: nonce of %d bytes, want %d", ErrMalformed, len(s.Nonce), wire.RoomSealNonce)
	case len(s.Ciphertext) <= wire.RoomSealTag || len(s.Ciphertext) > wire.MaxRoomSealed:
		return fmt.Errorf("%w: sealed text of %d bytes, want %d..%d", ErrMalformed, len(s.Ciphertext), wire.RoomSealTag+1, wire.MaxRoomSealed)
	}
	return nil
}

// verifyAuthor checks a signed statement's ticket at time at (signed by
// c.Server, a node's, issued before at, not revoked), that its username is
// author, and the device's signature sig over signed.
func verifyAuthor(st *wire.SignedTicket, author string, at time.Time, signed, sig []byte, c Checks) (*ticket.Ticket, error) {
	if c.Server == "" {
		return nil, fmt.Errorf("%w: no auth server configured", ErrUnauthorized)
	}
	t, err := ticket.Verify(c.Server, st, at)
	switch {
	case errors.Is(err, ticket.ErrExpired):
		return nil, fmt.Errorf("%w: at the signed time %v: %w", ErrUnauthorized, at, err)
	case err != nil:
		return nil, fmt.Errorf("%w: ticket: %w", ErrForged, err)
	}
	if at.Before(t.Issued.Add(-wire.MaxClockSkew)) {
		return nil, fmt.Errorf("%w: signed at %v, before its ticket was issued at %v", ErrUnauthorized, at, t.Issued)
	}
	if t.Role != ticket.RoleNode {
		return nil, fmt.Errorf("%w: a %q ticket, not a node's", ErrUnauthorized, t.Role)
	}
	if t.Username != author {
		return nil, fmt.Errorf("%w: signed as %q with a ticket of %q", ErrForged, author, t.Username)
	}
	pub, err := t.Peer.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: device key of %s: %v", ErrForged, t.Peer, err)
	}
	if ok, err := pub.Verify(signed, sig); err != nil || !ok {
		return nil, fmt.Errorf("%w: device signature of %s (%q)", ErrForged, t.Peer, t.Username)
	}
	if c.Revoked != nil {
		if err := c.Revoked.Check(t); err != nil {
			return nil, fmt.Errorf("%w: revoked: %w", ErrUnauthorized, err)
		}
	}
	return t, nil
}
