package room

import (
	"crypto/sha256"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// Domain strings. SigningContext separates a device's signature over a room
// op from every other use of its key (a ticket, a conversation event, a
// peer record): no other signed statement verifies as a room op. The chain
// hash has its own label so an op's hash is never some other protocol's
// hash of the same bytes.
const (
	SigningContext = "eserver-room-op-v1"
	chainContext   = "eserver-room-chain-v1"
)

// Kind is what an op does; the strings match the API's room event kinds
// where those exist.
type Kind string

const (
	KindCreate        Kind = "create"
	KindTopic         Kind = "topic"
	KindModes         Kind = "modes"
	KindOp            Kind = "op"
	KindDeop          Kind = "deop"
	KindVoice         Kind = "voice"
	KindDevoice       Kind = "devoice"
	KindKick          Kind = "kick"
	KindBan           Kind = "ban"
	KindUnban         Kind = "unban"
	KindInvite        Kind = "invite"
	KindDeleteMessage Kind = "delete-message"
	KindDeleteRoom    Kind = "delete-room"
	KindTransferOwner Kind = "transfer-owner"
)

// Op is a decoded room op; Verify returns it verified against a state.
type Op struct {
	Room   string
	Seq    uint64
	Prev   Hash
	Hash   Hash // HashOp of its bytes: the next op's Prev
	Author string
	Time   time.Time
	Kind   Kind
	// Target is the user the op acts on (op, deop, voice, devoice, kick,
	// ban, unban, invite, transfer-owner), or the author of the message a
	// delete-message removes.
	Target    string
	Topic     string    // create, topic
	Modes     Modes     // create, modes
	Until     time.Time // ban: zero for until unbanned
	MessageID string    // delete-message
	// Ticket is the author's verified ticket; Signed is the op as it
	// arrived, to store and pass on unchanged.
	Ticket *ticket.Ticket
	Signed *wire.SignedRoomOp

	verified bool // by Verify: Apply takes no other op
}

// HashOp is the chain hash of an op's serialized bytes (SignedRoomOp.Op).
func HashOp(opBytes []byte) Hash {
	h := sha256.New()
	h.Write([]byte(chainContext))
	h.Write(opBytes)
	var out Hash
	h.Sum(out[:0])
	return out
}

// Decode parses b as a SignedRoomOp, checking its size before decoding and
// the sizes of its parts after. It does not verify anything: Verify does.
func Decode(b []byte) (*wire.SignedRoomOp, error) {
	if len(b) > wire.MaxSignedRoomOp {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), wire.MaxSignedRoomOp)
	}
	var s wire.SignedRoomOp
	if err := proto.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkSigned(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// checkSigned checks the shape of a SignedRoomOp, however it was decoded.
func checkSigned(s *wire.SignedRoomOp) error {
	switch {
	case s == nil:
		return fmt.Errorf("%w: nil", ErrMalformed)
	case len(s.Op) == 0 || len(s.Op) > wire.MaxRoomOp:
		return fmt.Errorf("%w: op of %d bytes, limit %d", ErrMalformed, len(s.Op), wire.MaxRoomOp)
	case len(s.Signature) == 0 || len(s.Signature) > 128:
		return fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(s.Signature))
	case s.Ticket == nil:
		return fmt.Errorf("%w: no ticket", ErrMalformed)
	case proto.Size(s.Ticket) > wire.MaxPrekeyTicket:
		return fmt.Errorf("%w: ticket of %d bytes, limit %d", ErrMalformed, proto.Size(s.Ticket), wire.MaxPrekeyTicket)
	case hasUnknown(s.ProtoReflect()):
		return fmt.Errorf("%w: unknown fields", ErrMalformed)
	}
	return nil
}

// hasUnknown reports whether m or a message in it carries fields this
// version does not know. An op with one is refused, not applied without
// it: a home of another version would apply it differently, and the homes
// and members of a room must agree on every state.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() != nil && !fd.IsList() && !fd.IsMap() {
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// parse decodes and validates op bytes: every field in its limits, and the
// genesis op (seq 1) and only it a create with a zero prev.
func parse(b []byte) (*Op, error) {
	var w wire.RoomOp
	if err := proto.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if hasUnknown(w.ProtoReflect()) {
		return nil, fmt.Errorf("%w: unknown fields in op", ErrMalformed)
	}
	if err := wire.ValidRoomName(w.Room); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := wire.ValidUsername(w.Author); err != nil {
		return nil, fmt.Errorf("%w: author: %w", ErrMalformed, err)
	}
	if len(w.Prev) != len(Hash{}) {
		return nil, fmt.Errorf("%w: prev of %d bytes, want %d", ErrMalformed, len(w.Prev), len(Hash{}))
	}
	if w.TimeUnixMilli <= 0 {
		return nil, fmt.Errorf("%w: time %d", ErrMalformed, w.TimeUnixMilli)
	}
	op := &Op{Room: w.Room, Seq: w.Seq, Author: w.Author, Time: time.UnixMilli(w.TimeUnixMilli), Hash: HashOp(b)}
	copy(op.Prev[:], w.Prev)
	target := func(k Kind, user string) error {
		op.Kind, op.Target = k, user
		if err := wire.ValidUsername(user); err != nil {
			return fmt.Errorf("%w: %s target: %w", ErrMalformed, k, err)
		}
		return nil
	}
	var err error
	switch k := w.Kind.(type) {
	case *wire.RoomOp_Create:
		op.Kind, op.Topic = KindCreate, k.Create.GetTopic()
		if err = checkTopic(op.Topic); err == nil {
			op.Modes, err = modesFromWire(k.Create.GetModes())
		}
	case *wire.RoomOp_Topic:
		op.Kind, op.Topic = KindTopic, k.Topic
		err = checkTopic(op.Topic)
	case *wire.RoomOp_Modes:
		op.Kind = KindModes
		if k.Modes == nil {
			return nil, fmt.Errorf("%w: modes op without modes", ErrMalformed)
		}
		op.Modes, err = modesFromWire(k.Modes)
	case *wire.RoomOp_Op:
		err = target(KindOp, k.Op)
	case *wire.RoomOp_Deop:
		err = target(KindDeop, k.Deop)
	case *wire.RoomOp_Voice:
		err = target(KindVoice, k.Voice)
	case *wire.RoomOp_Devoice:
		err = target(KindDevoice, k.Devoice)
	case *wire.RoomOp_Kick:
		err = target(KindKick, k.Kick)
	case *wire.RoomOp_Ban:
		if err = target(KindBan, k.Ban.GetUsername()); err == nil && k.Ban.GetUntilUnixMilli() != 0 {
			op.Until = time.UnixMilli(k.Ban.GetUntilUnixMilli())
			if !op.Until.After(op.Time) {
				err = fmt.Errorf("%w: ban until %v, not after the op's time %v", ErrMalformed, op.Until, op.Time)
			}
		}
	case *wire.RoomOp_Unban:
		err = target(KindUnban, k.Unban)
	case *wire.RoomOp_Invite:
		err = target(KindInvite, k.Invite)
	case *wire.RoomOp_DeleteMessage:
		op.MessageID = k.DeleteMessage.GetId()
		if err = target(KindDeleteMessage, k.DeleteMessage.GetAuthor()); err == nil &&
			(op.MessageID == "" || len(op.MessageID) > wire.MaxRoomMessageID || !utf8.ValidString(op.MessageID)) {
			err = fmt.Errorf("%w: message ID of %d bytes, want 1..%d of UTF-8", ErrMalformed, len(op.MessageID), wire.MaxRoomMessageID)
		}
	case *wire.RoomOp_DeleteRoom:
		op.Kind = KindDeleteRoom
	case *wire.RoomOp_TransferOwner:
		err = target(KindTransferOwner, k.TransferOwner)
	default:
		return nil, fmt.Errorf("%w: no kind", ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	// A room's first op creates it, and only it follows nothing. A
	// regional room is never created: its first op is its region's
	// moderators' first change, and it follows nothing too.
	genesis := op.Seq == 1
	regional := wire.RoomRegion(op.Room) != ""
	if genesis != (op.Prev == Hash{}) || op.Seq == 0 || (!regional && genesis != (op.Kind == KindCreate)) {
		return nil, fmt.Errorf("%w: %s op at position %d after %x: only the first op creates the room, and only it follows nothing",
			ErrMalformed, op.Kind, op.Seq, op.Prev[:4])
	}
	return op, nil
}

// checkTopic checks a topic's length and characters: UTF-8 without control
// characters, so a topic is one line in every window.
func checkTopic(topic string) error {
	if len(topic) > wire.MaxRoomTopic {
		return fmt.Errorf("%w: topic of %d bytes, limit %d", ErrMalformed, len(topic), wire.MaxRoomTopic)
	}
	if !utf8.ValidString(topic) {
		return fmt.Errorf("%w: topic is not UTF-8", ErrMalformed)
	}
	for _, r := range topic {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character %U in topic", ErrMalformed, r)
		}
	}
	return nil
}

// Revoker tells whether a verified ticket's device is revoked (an error)
// or not (nil). pipeline.Revoker and supernode/client.Revocations have this
// shape.
type Revoker interface {
	Check(*ticket.Ticket) error
}

// Checks is what Verify checks an op against beside the state.
type Checks struct {
	// Server is the auth server whose tickets are accepted; required.
	Server peer.ID
	// Revoked is asked about the author's device; nil revokes none. A home
	// sequencing a new op sets it. One replaying ops the homes already
	// sequenced may leave it nil: a device revoked later does not undo what
	// it signed while it was not (docs/ROOMS.md).
	Revoked Revoker
	// MaxAge, when positive, refuses ops signed longer than this before
	// now. A home sequencing a new op sets it (wire.MaxClockSkew), so a
	// device cannot backdate an op into the lifetime of an old ticket;
	// replaying a chain leaves it 0, since sequenced ops age.
	MaxAge time.Duration
}

// Verify checks the signed op s against the state st at its position and
// the time now, and returns it decoded: its shape and limits; the author's
// ticket (signed by c.Server, a node's, valid at the op's time, not
// revoked); the author device's signature over the op under
// SigningContext; that the ticket's username is the op's author; the room;
// the chain (the op follows st's head, at the next position); its time
// (not before the head's, not in the future beyond wire.MaxClockSkew, not
// older than c.MaxAge); and the author's authority for the op in st.
// The error wraps one of the package's sentinels.
func Verify(s *wire.SignedRoomOp, st *State, now time.Time, c Checks) (*Op, error) {
	if err := checkSigned(s); err != nil {
		return nil, err
	}
	op, err := parse(s.Op)
	if err != nil {
		return nil, err
	}
	if op.Room != st.Room {
		return nil, fmt.Errorf("%w: op of %q, state of %q", ErrWrongRoom, op.Room, st.Room)
	}
	if op.Ticket, err = verifyTicket(s, op, c); err != nil {
		return nil, err
	}
	op.Signed = s
	if err := checkPosition(op, st); err != nil {
		return nil, err
	}
	if op.Time.After(now.Add(wire.MaxClockSkew)) {
		return nil, fmt.Errorf("%w: signed at %v, in the future of %v", ErrBadTime, op.Time, now)
	}
	if c.MaxAge > 0 && op.Time.Before(now.Add(-c.MaxAge)) {
		return nil, fmt.Errorf("%w: signed at %v, more than %v before %v", ErrBadTime, op.Time, c.MaxAge, now)
	}
	if op.Time.Before(st.Time) {
		return nil, fmt.Errorf("%w: signed at %v, before the op it follows (%v)", ErrBadTime, op.Time, st.Time)
	}
	if _, err := transition(st, op); err != nil {
		return nil, err
	}
	op.verified = true
	return op, nil
}

// verifyTicket checks the author's ticket and the device's signature over
// the op (verifyAuthor, which room messages share).
func verifyTicket(s *wire.SignedRoomOp, op *Op, c Checks) (*ticket.Ticket, error) {
	return verifyAuthor(s.Ticket, op.Author, op.Time, append([]byte(SigningContext), s.Op...), s.Signature, c)
}

// checkPosition checks that op is the next op of st's chain.
func checkPosition(op *Op, st *State) error {
	switch {
	case op.Seq <= st.Seq:
		return fmt.Errorf("%w: op at position %d, the room is at %d", ErrStale, op.Seq, st.Seq)
	case op.Seq > st.Seq+1:
		return fmt.Errorf("%w: op at position %d, the room is at %d", ErrGap, op.Seq, st.Seq)
	case op.Prev != st.Head:
		return fmt.Errorf("%w: op at position %d follows %x, the room's op there is %x", ErrFork, op.Seq, op.Prev[:8], st.Head[:8])
	}
	return nil
}

// Signer signs bytes with a device's key; a libp2p crypto.PrivKey is one.
type Signer interface {
	Sign([]byte) ([]byte, error)
}

// Next is a new op of st's room by author at time at, following st's head;
// the caller sets its Kind and signs it (Sign).
func Next(st *State, author string, at time.Time) *wire.RoomOp {
	return &wire.RoomOp{Room: st.Room, Seq: st.Seq + 1, Prev: st.Head[:], Author: author, TimeUnixMilli: at.UnixMilli()}
}

// Create is the genesis op of room by author at time at.
func Create(room, author string, at time.Time, topic string, modes Modes) *wire.RoomOp {
	op := Next(New(room), author, at)
	op.Kind = &wire.RoomOp_Create{Create: &wire.RoomCreate{Topic: topic, Modes: modes.Wire()}}
	return op
}

// Sign encodes op and signs it with key, the author device's, attaching
// the device's ticket st.
func Sign(key Signer, st *wire.SignedTicket, op *wire.RoomOp) (*wire.SignedRoomOp, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("encoding a room op: %w", err)
	}
	if len(b) > wire.MaxRoomOp {
		return nil, fmt.Errorf("%w: op of %d bytes, limit %d", ErrMalformed, len(b), wire.MaxRoomOp)
	}
	sig, err := key.Sign(append([]byte(SigningContext), b...))
	if err != nil {
		return nil, fmt.Errorf("signing a room op: %w", err)
	}
	return &wire.SignedRoomOp{Op: b, Signature: sig, Ticket: st}, nil
}
