// Package wire holds what every EServer protocol shares on the wire: protocol
// IDs, size limits and timeouts (in one place, so a reader sees them all), the
// protobuf messages generated from wire.proto, and varint length framing that
// checks the length against the limit before reading or allocating.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"
)

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto

// Protocol IDs.
const (
	ProtoAuth       = "/eserver/auth/1.0.0"
	ProtoRendezvous = "/eserver/rendezvous/1.0.0"
	ProtoMsg        = "/eserver/msg/1.0.0"
	ProtoRegistry   = "/eserver/registry/1.0.0"
	ProtoMailbox    = "/eserver/mailbox/1.0.0"
	// ProtoMailboxStream is the mailbox protocol with several requests on
	// one stream: the client keeps the stream open and pipelines requests
	// (at most MailboxInFlight unanswered), the supernode answers them in
	// order, and a MailFetch may carry the ack of the previous fetch. A
	// client offers it first and ProtoMailbox (one request per stream)
	// second, so it still speaks to supernodes without it.
	ProtoMailboxStream = "/eserver/mailbox/1.1.0"
	// ProtoMailboxDevices is ProtoMailboxStream at a supernode that keeps
	// device mailboxes (supernode/client.DeviceMailboxID): a fetch, its
	// acks and an ack cover the owner's device mailbox as well as its
	// account's, and a put may name the account's mailbox as its home.
	// The supernode serves every version on one handler, so the version
	// only tells a client that mail for a device mailbox left there will
	// be fetched; a supernode without it would take such mail (if homed
	// there by chance) and never hand it out.
	ProtoMailboxDevices = "/eserver/mailbox/1.2.0"
	// ProtoMailNotify is opened by a supernode to a mailbox owner that is
	// connected to it when mail arrives; it carries nothing but the hint to
	// fetch. The owner only acts on it from its own homes.
	ProtoMailNotify = "/eserver/mail-notify/1.0.0"
	// ProtoContacts stores each user's contact list at its homes as a blob
	// sealed by the user (node/backup), for new devices and reinstalls.
	ProtoContacts = "/eserver/contacts/1.0.0"
	// ProtoPrekeys is the prekey directory: each device's signed prekey
	// bundle and one-time prekeys, fetched by anyone starting a session.
	ProtoPrekeys = "/eserver/prekeys/1.0.0"
	// ProtoRoom is a chat room's home: ops to sequence, joins (a stream
	// the home then pushes the room's events on), messages, the backlog
	// and the chain. Its limits and timeouts are in room.go.
	ProtoRoom = "/eserver/room/1.0.0"
)

// Default ports (the seed's 1864–1865).
const (
	PortAuth      = 1864
	PortSupernode = 1865
)

// RendezvousTagSize is the size of a lookup entry's tag (Lookup.known): a
// hash of everything the entry carries, by which a rendezvous answers an
// entry the asker already holds without sending it again.
const RendezvousTagSize = 16

// MaxRendezvousRecords bounds the peer-record bytes the entries of one
// username carry in a lookup answer: entries past it (the oldest devices)
// are answered with their ticket alone. One account's MaxAccountDevices
// devices with records of ticket.MaxPeerRecord (8 KiB) would otherwise
// need more than MaxRendezvousFrame, and the answer for that username
// alone could never be sent; a few devices' usual records of under a KiB
// are far below it.
const MaxRendezvousRecords = 64 << 10

// Size limits per frame. A frame larger than its limit is refused before a
// byte of its body is read.
const (
	MaxAuthFrame       = 16 << 10  // OPAQUE messages are a few hundred bytes
	MaxRendezvousFrame = 256 << 10 // a lookup answer for a full contact list
	MaxRegistryFrame   = 256 << 10 // a list of live supernodes
	MaxMailboxFrame    = 1 << 20   // a fetch answer: many padded items
	MaxMailItem        = 80 << 10  // one sealed, padded item (a full chat frame plus the sender's ticket)
	MaxMsgFrame        = 64 << 10  // one sealed chat message and its overhead
	MaxChatText        = 16 << 10  // UTF-8 bytes of one chat message's text
	MaxUsername        = 32
	MaxNick            = 128
	MaxSubnick         = 256
	MaxRequestMessage  = 256
)

// Read marks (ReadMark): the message ID a mark names is a chat message's
// or a multi-party event's, at most MaxReadMarkID bytes; a mark more than
// MaxClockSkew ahead of the receiver's clock is refused, since no message
// it could name is stored that far ahead (times past now are stamped now).
const MaxReadMarkID = 64

// Timeouts.
const (
	AuthTimeout       = 20 * time.Second // one whole register or login exchange
	RendezvousTimeout = 10 * time.Second
	RegistryTimeout   = 10 * time.Second
	MailboxTimeout    = 20 * time.Second
	MailNotifyTimeout = 5 * time.Second
	ContactsTimeout   = 30 * time.Second // a whole contact list may be 1 MiB
	PrekeysTimeout    = 10 * time.Second // frames of at most MaxPrekeysFrame
	MsgIdleTimeout    = 2 * time.Minute  // a message stream with no frames is closed
	MsgWriteTimeout   = 10 * time.Second
	DialTimeout       = 10 * time.Second

	// MailboxIdleTimeout closes a pipelined mailbox stream on which no
	// request began for this long (MailboxTimeout bounds each request from
	// its arrival to its answer); the client opens a new one when it needs it.
	MailboxIdleTimeout = 2 * time.Minute
)

// MsgBatch and MsgBatchBytes bound the envelopes a node reads from one
// message stream before it stores them together and acks them (group
// commit): a window of the sender's.
const (
	MsgBatch      = 64
	MsgBatchBytes = 256 << 10
)

// Receiving a frame. Its bytes are read as they arrive into a buffer that
// grows toward the declared length (never allocated up front), accounted
// against the stream's resource scope and the service's request budget. Once
// the first byte of a frame is in, the rest must keep up with MinFrameRate
// after FrameGrace: a sender that falls behind is dropped, so a stalled or
// trickling frame holds its memory for seconds, not for the stream's whole
// timeout; and a frame may never go FrameGrace without a byte. 16 KiB/s
// lets a 128 kbit/s uplink send the largest frame (a contact list of 1 MiB)
// within ContactsTimeout.
const (
	MinFrameRate = 16 << 10        // bytes per second, averaged over the frame
	FrameGrace   = 5 * time.Second // before the rate applies; the longest pause inside a frame
	// SmallFrame is what a frame's buffer starts at (or its length, if
	// less): the first SmallFrame bytes of a frame may take the whole of a
	// service's request budget, its growth beyond only three quarters, so a
	// flood of large frames never refuses the small requests most are (a
	// login, a lookup, a chat message).
	SmallFrame = 2 << 10
)

// Request budgets: the bytes of requests each service holds at once, all
// peers together (pipeline.Budget), and what one peer may hold of it. They
// bound what strangers can pin whatever their number: 600 partial frames of
// the largest size take at most the budget. Each holds a few dozen requests
// of the largest size, or thousands of the usual small ones.
const (
	AuthBudget       = 8 << 20  // OPAQUE frames of a few hundred bytes
	RegistryBudget   = 8 << 20  // heartbeats and revocation pages
	RendezvousBudget = 8 << 20  // publishes and lookups, a few KiB each
	MailboxBudget    = 16 << 20 // puts of MaxMailItem, fetch requests
	ContactsBudget   = 16 << 20 // a put is one contact list of up to 1 MiB
	PrekeysBudget    = 8 << 20  // publishes of about 95 KiB
	MsgBudget        = 8 << 20  // inbound chat frames at a node, MaxMsgFrame each
	// PeerBudgetShare divides a budget into what one peer may hold: a
	// sixteenth, and never less than two frames of the protocol's largest.
	PeerBudgetShare = 16
)

// TicketLifetime is how long a login ticket is valid.
const TicketLifetime = 24 * time.Hour

// Auth server replicas in a login result (LoginResult.replicas): the
// multiaddrs, each with /p2p/, of every live replica, for a client to fail
// over to. The bounds keep the list well inside an auth frame beside the
// ticket, its card and region pass and a full account identity (the
// supernodes take what is left), and let a reader check an address's
// length before parsing it. Two to four replicas of a few addresses each
// are the usual case.
const (
	MaxReplicaAddrs   = 16  // multiaddrs in one login result
	MaxReplicaAddrLen = 256 // bytes of one
)

// Supernode liveness: a supernode heartbeats every HeartbeatInterval and is
// listed while its last heartbeat is younger than SupernodeTTL; its
// role-supernode ticket lives SupernodeTicketLifetime.
const (
	HeartbeatInterval       = 2 * time.Second
	SupernodeTTL            = 6 * time.Second
	SupernodeTicketLifetime = time.Hour
)

// Devices and revocation. A device (peer ID) an account revoked never gets
// a ticket again; the auth server's revocation log carries it until its last
// ticket expires, and supernodes poll the log every RevocationPollInterval.
const (
	MaxDeviceName          = 64   // bytes of a device's human name, e.g. "laptop"
	MaxListedDevices       = 100  // devices in one list_devices answer at most
	MaxRevocationEntries   = 2000 // entries in one revocation page: about 60 bytes each, well inside a registry frame
	RevocationPollInterval = 30 * time.Second
)

// Homes is how many supernodes every node keeps (the seed's "Supernodes(3)").
const Homes = 3

// MailSpareHomes is how many supernodes after its homes (in the same
// rendezvous order) a node also fetches its mail from. A sender leaves mail
// at the recipient's homes as it sees them: with one of them down in its
// view (skipped for a while after one failed call), the next supernode in
// the order takes the mail, though the recipient, who saw no failure,
// never counts it among its homes. The chaos soak found mail left so and
// never fetched.
const MailSpareHomes = 2

// MailHomeWindow is how far down a mailbox's home order a supernode may be
// and still take its mail: twice Homes, because a sender skips homes it saw
// failing (taking the next in order) and its list of live supernodes may
// differ from the recipient's for a refresh or two. The recipient fetches
// from the first MailHomeWindow supernodes of its order over every
// supernode it knows or knew lately, dead or not, beside its homes and
// spares among the live ones.
const MailHomeWindow = 2 * Homes

// Mailbox limits.
const (
	MailTTL      = 30 * 24 * time.Hour
	MailboxQuota = 10000 // items waiting per mailbox
	// MailboxQuotaBytes bounds the bytes waiting per mailbox: at the item
	// quota, items of the largest size would otherwise be 800 MB.
	MailboxQuotaBytes = 64 << 20
	MailFetchLimit    = 256 // items per fetch answer at most
	// MailboxInFlight bounds the requests a supernode reads on one
	// pipelined mailbox stream before it has answered them: it stops
	// reading until one is answered, so a client cannot queue unbounded
	// work (or memory) behind one stream.
	MailboxInFlight = 64
)

// Replay protection at nodes. Mail (by the time its sender sealed it) and
// multi-party events (by the time their author signed them) older than
// MailTTL, or more than MaxClockSkew in the future, are refused; what a
// node applied of them it remembers for SeenRetention, which covers the
// whole window in which they are accepted, so a replay of either changes
// nothing.
const (
	MaxClockSkew  = 5 * time.Minute
	SeenRetention = MailTTL + 2*MaxClockSkew
)

// Contact-list storage limits. A blob is one sealed contact list: a padded
// plaintext of up to MaxContactsPlain (5,000 contacts with the longest
// names, both tokens, peer IDs and change times take about 830 KiB) plus the sealing
// header and tag.
const (
	MaxContactsPlain = 1 << 20
	MaxContactsBlob  = MaxContactsPlain + 256
	MaxContactsFrame = MaxContactsBlob + 16<<10 // a blob plus the ticket and the other fields
)

// Prekey directory limits. A bundle (identity key, signed X25519 and
// ML-KEM-768 prekeys, signatures) takes about 1.5–2 KiB; a one-time prekey
// is an id and an X25519 key; a one-time KEM prekey an id, an ML-KEM-768
// encapsulation key and its signature (1,252 bytes). A fetch answer holds
// at most MaxPrekeyDevices entries of a bundle and one prekey of each kind
// (about 75 KiB), and a publish a bundle and full batches of both kinds
// (about 95 KiB), so both fit in MaxPrekeysFrame.
const (
	MaxPrekeyBundle         = 8 << 10
	MaxOneTimePrekey        = 64
	MaxOneTimePerPublish    = 100
	MaxOneTimeStored        = 200 // per device; a publish past it drops the oldest
	MaxOneTimeKEMPrekey     = 1300
	MaxOneTimeKEMPerPublish = 64
	MaxOneTimeKEMStored     = 100  // per device; a publish past it drops the oldest
	MaxPrekeyDevices        = 8    // per user; a new device past it evicts the oldest ticket's
	MaxPrekeyTicket         = 1024 // a serialized SignedTicket (about 300 bytes) kept per device
	MaxPrekeysFrame         = 128 << 10
)

// PrekeyBundleTTL is how long a prekey directory serves a device's bundle
// after its last publish, however soon the ticket it came with expires: a
// contact away for days must still be reachable with forward secrecy. A
// device rotates its signed prekeys weekly and keeps the private halves
// 37 days, so a bundle served this long still opens for weeks after.
const PrekeyBundleTTL = 7 * 24 * time.Hour

// Response codes: the stable strings a server puts in the error field of
// its answer (Rendezvous-, Contacts-, Mailbox-, Prekeys- and
// RegistryResponse, and the pipeline's refusals). Servers write them;
// eserver/supernode/client maps each to one sentinel error. "" is success.
const (
	CodeUnauthorized = "unauthorized" // no valid, unrevoked ticket for this request
	CodeBadRequest   = "bad_request"  // malformed or out of limits
	CodeTooMany      = "too_many"     // more than the server takes at once (a lookup batch, the registry)
	CodeRateLimited  = "rate_limited" // the sender's token bucket is empty
	CodeQuota        = "quota"        // the mailbox is full
	CodeFull         = "full"         // the supernode holds all it may for every account together (a global cap); try another home or later
	CodeNotHome      = "not_home"     // the supernode is not one of the mailbox's homes
	CodeStale        = "stale"        // a contacts put that does not replace the stored blob (its owner had not read it); the answer carries the stored version
	CodeInternal     = "internal"     // the server could not answer (its store failed)
	CodeUnreachable  = "unreachable"  // the server is up but cannot reach its database; another replica may
	CodeBusy         = "busy"         // the service holds all the request bytes it may at once (its budget); retry in a moment or try another home
	CodeBadDevices   = "bad_devices"  // a rendezvous publish's device list is not signed by the key it names, is another account's, or does not name the publishing device
	// A room's home (ProtoRoom) answers these besides the shared codes;
	// they are the daemon's error names (issue 15).
	CodeBanned        = "banned"         // a ban in force on the account
	CodeRoomFull      = "room_full"      // the room is at its member limit
	CodeNotAllowed    = "not_allowed"    // no rights for this, muted, another region, not invited, not joined, new account
	CodeWrongPassword = "wrong_password" // the room's key is another
)

// Errors callers branch on.
var (
	ErrFrameTooLarge = errors.New("frame too large")
)

// maxVarintLen is the longest varint a frame length can take; a prefix longer
// than this is malformed.
const maxVarintLen = binary.MaxVarintLen64

// WriteMsg writes m as one varint-length-prefixed frame.
func WriteMsg(w io.Writer, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshalling %T: %w", m, err)
	}
	buf := make([]byte, 0, maxVarintLen+len(b))
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	buf = append(buf, b...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}

// MustMarshal encodes m, which the caller built itself: messages of ours
// always encode (proto.Marshal fails only on invalid UTF-8 in a string field
// or a missing required field, neither of which our messages have).
func MustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("wire: encoding %T: %v", m, err))
	}
	return b
}
