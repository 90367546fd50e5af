// Package api is the node's API as front ends (the Fyne app, the JSON-RPC
// daemon) see it: commands that take a context, plus one event stream
// (Watch) that starts with a snapshot of the current state and then carries
// deltas — the shape of tailscale's ipn.Notify. It is a leaf package, so a
// front end depends on the node's vocabulary without pulling in libp2p or
// SQLite; package node implements API.
//
// The json tags are the wire vocabulary of both front ends: the daemon
// (package rpc, docs/API.md) sends these types as they are, so a key named
// here is the key a script reads. IDs are camelCase "…Id" keys (transferId,
// streamId, conversationId, messageId, peerId); a test in package rpc holds
// docs/API.md to them.
package api

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Status is a user's presence status, as MSN had them.
type Status string

// Statuses. Invisible is shown to contacts as Offline.
const (
	StatusOnline    Status = "online"
	StatusBusy      Status = "busy"
	StatusAway      Status = "away"
	StatusBRB       Status = "brb"
	StatusPhone     Status = "phone"
	StatusLunch     Status = "lunch"
	StatusInvisible Status = "invisible"
	StatusOffline   Status = "offline"
)

// Statuses a user may choose, in menu order.
var Statuses = []Status{StatusOnline, StatusBusy, StatusAway, StatusBRB, StatusPhone, StatusLunch, StatusInvisible}

// Valid reports whether s is a status a user may set.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Relation is where a contact stands with us.
type Relation string

// Relations.
const (
	RelationPendingOut Relation = "pending-out" // we asked, they have not answered
	RelationPendingIn  Relation = "pending-in"  // they asked, we have not answered
	RelationAccepted   Relation = "accepted"
	RelationBlocked    Relation = "blocked"
)

// MessageState is the delivery state of a message.
type MessageState string

// Message states. Outgoing messages go queued → delivered; incoming are received.
const (
	StateQueued    MessageState = "queued"
	StateDelivered MessageState = "delivered"
	StateReceived  MessageState = "received"
	StateFailed    MessageState = "failed" // refused by the peer (e.g. no longer a contact)
)

// Errors callers branch on. The daemon maps each to a stable code (see Code).
var (
	ErrLoginFailed   = errors.New("wrong username or password")
	ErrUsernameTaken = errors.New("username taken")
	ErrNotContact    = errors.New("not an accepted contact")
	ErrRateLimited   = errors.New("rate limited, try again later")
	ErrBadRequest    = errors.New("bad request")
	ErrNotLoggedIn   = errors.New("not signed in")
	ErrUnreachable   = errors.New("server unreachable")
	ErrBlocked       = errors.New("contact is blocked")
	// ErrDeviceRevoked: this device was removed from the account (from
	// another device); it cannot sign in again with its current keys.
	ErrDeviceRevoked = errors.New("this device was removed from the account")
	// ErrNoSuchUser: AddContact named a username no account has (the auth
	// server says so); nothing was added.
	ErrNoSuchUser = errors.New("no such user")

	// Chat rooms' errors, as the room's home answered: ErrBanned (banned
	// from the room), ErrRoomFull (at its member limit), ErrNotAllowed (no
	// rights, muted, another region, not invited, not joined),
	// ErrWrongPassword (the room's key). Slow mode and flood are
	// ErrRateLimited; an unknown room or a bad name ErrBadRequest.
	ErrBanned        = errors.New("banned from the room")
	ErrRoomFull      = errors.New("the room is full")
	ErrNotAllowed    = errors.New("not allowed in the room")
	ErrWrongPassword = errors.New("wrong room password")
	// ErrRoomExists: CreateRoom named a room that exists (or existed:
	// a deleted room's name is not free again).
	ErrRoomExists = errors.New("a room of that name exists")
)

// Mark is err, reading as err, that is also sentinel for errors.Is: how a
// component's error keeps its own words and takes the API's meaning.
func Mark(sentinel, err error) error { return marked{sentinel: sentinel, err: err} }

type marked struct{ sentinel, err error }

func (e marked) Error() string   { return e.err.Error() }
func (e marked) Unwrap() []error { return []error{e.sentinel, e.err} }

// Code returns the stable string code of err for front ends and the daemon:
// login_failed, username_taken, not_contact, rate_limited, bad_request,
// not_logged_in, unreachable, blocked, device_revoked, no_such_user, banned,
// room_full, not_allowed, wrong_password, room_exists, offline, busy,
// no_such_call, internal.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrLoginFailed):
		return "login_failed"
	case errors.Is(err, ErrUsernameTaken):
		return "username_taken"
	case errors.Is(err, ErrNotContact):
		return "not_contact"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrBadRequest):
		return "bad_request"
	case errors.Is(err, ErrNotLoggedIn):
		return "not_logged_in"
	case errors.Is(err, ErrUnreachable):
		return "unreachable"
	case errors.Is(err, ErrBlocked):
		return "blocked"
	case errors.Is(err, ErrDeviceRevoked):
		return "device_revoked"
	case errors.Is(err, ErrNoSuchUser):
		return "no_such_user"
	case errors.Is(err, ErrBanned):
		return "banned"
	case errors.Is(err, ErrRoomFull):
		return "room_full"
	case errors.Is(err, ErrNotAllowed):
		return "not_allowed"
	case errors.Is(err, ErrWrongPassword):
		return "wrong_password"
	case errors.Is(err, ErrRoomExists):
		return "room_exists"
	case errors.Is(err, ErrOffline):
		return "offline"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, ErrNoSuchCall):
		return "no_such_call"
	default:
		return "internal"
	}
}

// Presence is what a user shows their contacts.
type Presence struct {
	Status  Status `json:"status"`
	Nick    string `json:"nick"`
	Subnick string `json:"subnick"` // MSN's "personal message"
	Media   string `json:"media"`   // "now playing"
	// Avatar names the display picture: the hex SHA-256 of its PNG bytes,
	// or "" for the default picture. Contacts fetch a picture they do not
	// have once, over the file-transfer protocol, and cache it by this name.
	Avatar string `json:"avatar,omitempty"`
}

// PresenceUpdate changes only the fields that are non-nil.
type PresenceUpdate struct {
	Status  *Status `json:"status,omitempty"`
	Nick    *string `json:"nick,omitempty"`
	Subnick *string `json:"subnick,omitempty"`
	Media   *string `json:"media,omitempty"`
}

// Display pictures are square PNGs of AvatarSize pixels; SetAvatar crops and
// scales what it is given. Pictures larger than MaxAvatarBytes are refused
// (ours before sending, contacts' before fetching).
const (
	AvatarSize     = 96
	MaxAvatarBytes = 256 << 10
)

// Crop is the square of a picture, in its pixels, that SetAvatar keeps. The
// zero Crop keeps the largest centred square.
type Crop struct {
	X    int `json:"x"`
	Y    int `json:"y"`
	Size int `json:"size"`
}

// Via says how we reach a contact now.
type Via string

// Ways to reach a contact, best first.
const (
	ViaDirect      Via = "direct"       // a direct connection
	ViaHolePunched Via = "hole-punched" // direct, after punching through NATs
	ViaRelayed     Via = "relayed"      // through a supernode's relay
	ViaMailbox     Via = "mailbox"      // no connection: messages wait in its mailboxes
	ViaOffline     Via = "offline"      // no connection and no mailbox to write to
)

// Contact is one entry of the contact list.
type Contact struct {
	Username string   `json:"username"`
	Relation Relation `json:"relation"`
	Via      Via      `json:"via"`
	Presence
	// RequestMessage is the note that came with an incoming request.
	RequestMessage string `json:"requestMessage,omitempty"`
	// Verified: the user compared safety numbers with this contact's
	// current device (VerifyContact). KeyChanged is when the contact's
	// device identity last changed from one we knew — a new device, a
	// reinstall, or someone in between: the chat warns about it.
	Verified   bool       `json:"verified"`
	KeyChanged *time.Time `json:"keyChanged,omitempty"`
	// Group is the user-defined group the contact is filed under in our
	// list ("" = none); Alias the name we gave it ("" = show its nick).
	// Both are ours alone: the contact never learns them.
	Group string `json:"group,omitempty"`
	Alias string `json:"alias,omitempty"`
	// AvatarPath is the contact's display picture (Presence.Avatar) as a
	// local file, once fetched; "" means show the default picture.
	AvatarPath string `json:"avatarPath,omitempty"`
	// Unread counts the contact's messages after what the user has read
	// on any device of the account (MarkRead).
	Unread int `json:"unread,omitempty"`
}

// TransferState is where a file transfer stands.
type TransferState string

// Transfer states.
const (
	TransferOffered   TransferState = "offered"   // sent, waiting for the contact's answer
	TransferIncoming  TransferState = "incoming"  // received, waiting for ours
	TransferActive    TransferState = "active"    // bytes moving
	TransferPaused    TransferState = "paused"    // by either side
	TransferDone      TransferState = "done"      // complete and checked
	TransferDeclined  TransferState = "declined"  // the receiver said no
	TransferCancelled TransferState = "cancelled" // by either side; no partial file is left
	TransferFailed    TransferState = "failed"    // see Error
)

// Transfer is one file transfer.
type Transfer struct {
	ID       string        `json:"transferId"`
	Peer     string        `json:"peer"` // the contact
	Outgoing bool          `json:"outgoing"`
	Name     string        `json:"name"`
	Size     int64         `json:"size"`
	State    TransferState `json:"state"`
	Bytes    int64         `json:"bytes"`          // received so far (receiving side)
	Rate     float64       `json:"rate,omitempty"` // bytes per second, while active
	ETA      time.Duration `json:"eta,omitempty"`  // in JSON: nanoseconds, as encoding/json writes a Duration
	Path     string        `json:"path,omitempty"` // sender: the file; receiver: the received file once done
	Error    string        `json:"error,omitempty"`
	// Type is the file's media type as its name suggests ("image/png");
	// Thumbnail a small JPEG preview of an image file, sent with the
	// offer so the receiver sees the picture before accepting it.
	Type      string `json:"type,omitempty"`
	Thumbnail []byte `json:"thumbnail,omitempty"`
}

// StreamEvent is an incoming live stream, waiting for AcceptStream.
type StreamEvent struct {
	ID    string `json:"streamId"`
	From  string `json:"from"`
	Label string `json:"label"`
}

// StreamClaimTimeout is how long an incoming stream waits for AcceptStream.
const StreamClaimTimeout = 30 * time.Second

// Device is one of the account's devices, as the auth server knows it.
type Device struct {
	PeerID     string     `json:"peerId"`
	Name       string     `json:"name"`
	FirstLogin time.Time  `json:"firstLogin"`
	LastSeen   time.Time  `json:"lastSeen"`
	Revoked    *time.Time `json:"revoked,omitempty"`
	Current    bool       `json:"current"` // this device
	// Online: signed in now (this device, or one the rendezvous at the
	// account's homes shows with fresh addresses). False when the homes
	// could not be asked: a guess of "offline" costs less than a wrong
	// "online".
	Online bool `json:"online"`
	// Listed: in the device list the account identity signed, so contacts
	// accept it as one of the account's. A device the auth server knows but
	// the account never listed (an old release's, or one removed) is not.
	Listed bool `json:"listed"`
}

// Safety is what two people compare, out of band, to know that their
// conversation is end-to-end encrypted between their own devices and no one
// else's.
type Safety struct {
	Username string `json:"username"`
	// Number is 60 digits in 12 groups of 5; both sides see the same.
	Number string `json:"number"`
	// Code is the same comparison for a machine (a QR code, or text to
	// paste): base64. It is directional: give yours to the contact, and
	// pass theirs to VerifyContact.
	Code     string `json:"code"`
	Verified bool   `json:"verified"`
}

// Verification marks a contact's current device identity as verified (or
// not). Code, if not empty, is the contact's Safety.Code as they showed it;
// it must match, or VerifyContact fails with ErrBadRequest and changes
// nothing.
type Verification struct {
	Username string `json:"username"`
	Verified bool   `json:"verified"`
	Code     string `json:"code,omitempty"`
}

// Online reports whether the contact shows as online in any status.
func (c Contact) Online() bool {
	return c.Relation == RelationAccepted && c.Status != "" && c.Status != StatusOffline && c.Status != StatusInvisible
}

// Conversation is a multi-party conversation: MSN's "invite someone to
// this conversation". Its ID stands where a contact's username stands in
// Send, History and Message.To, so a front end treats it like any other
// conversation. Every message goes end-to-end to every member; members who
// are not each other's contacts get each other's messages through members
// who are, signed by their authors so no one in between can forge or change
// them.
type Conversation struct {
	ID      string   `json:"conversationId"` // "#" and 32 hex digits
	Members []string `json:"members"`        // usernames, ours included, sorted
	// Left: we left it (LeaveConversation); it stays readable in history.
	Left bool `json:"left,omitempty"`
	// Unread counts its messages after what the user has read on any
	// device of the account (MarkRead).
	Unread int `json:"unread,omitempty"`
}

// MaxConversationMembers bounds a conversation, ourselves included.
const MaxConversationMembers = 10

// IsConversation reports whether with names a multi-party conversation
// rather than a contact.
func IsConversation(with string) bool { return strings.HasPrefix(with, "#") }

// ConversationEvent: a conversation started, someone joined or left it.
// Joined/Left name who, when that is what happened.
type ConversationEvent struct {
	Conversation
	Joined string `json:"joined,omitempty"`
	Left   string `json:"leftMember,omitempty"`
	By     string `json:"by,omitempty"` // who invited Joined
}

// Message is one chat message, incoming or outgoing. In a multi-party
// conversation To is the conversation's ID and From its author.
//
// History (and SearchHistory) also returns, in order with the messages,
// what the chat window showed between them: nudges, file transfers that
// ended and people joining or leaving a conversation. Kind says which; it
// is empty for a message, and only History and SearchHistory return the
// other kinds (they come live as their own events).
type Message struct {
	ID    string       `json:"messageId"`
	From  string       `json:"from"`
	To    string       `json:"to"`
	Text  string       `json:"text"`
	Time  time.Time    `json:"time"`
	State MessageState `json:"state"`
	Kind  MessageKind  `json:"kind,omitempty"`
	// File is how the transfer of a KindFile entry ended.
	File *FileNote `json:"file,omitempty"`
	// Call is how the call of a KindCall entry went.
	Call *CallNote `json:"call,omitempty"`
}

// MessageKind is what a history entry records.
type MessageKind string

// Kinds of history entries.
const (
	KindMessage MessageKind = ""       // a chat message
	KindNudge   MessageKind = "nudge"  // From nudged To; Text is empty
	KindFile    MessageKind = "file"   // From sent To a file: Text is its name, File how it ended
	KindJoined  MessageKind = "joined" // Text (a username) joined conversation To, invited by From
	KindLeft    MessageKind = "left"   // Text (a username; From too) left conversation To
	KindCall    MessageKind = "call"   // From called To; Call says how it went, Text is empty
)

// CallNote is how a call recorded in history went; the entry's ID is the
// call's.
type CallNote struct {
	// Reason is how it ended (CallReason…): "missed" and "declined" show
	// as a missed call to the callee.
	Reason string `json:"reason"`
	// Duration is how long it ran once answered, in whole seconds (0 when
	// never answered).
	Duration int `json:"duration"`
}

// FileNote is how a file transfer recorded in history ended; the entry's
// ID is the transfer's.
type FileNote struct {
	Size  int64         `json:"size"`
	State TransferState `json:"state"` // done, declined, cancelled or failed
}

// Account is the signed-in user.
type Account struct {
	Username string `json:"username"`
	PeerID   string `json:"peerId"`
	Server   string `json:"server"`
	// Role is what this node does for the network now; SupernodeAllowed is
	// the user's opt-in to becoming a supernode when it can, and
	// SupernodeUploadCap the upload it grants to that duty in bytes per
	// second (0: no cap).
	Role               Role  `json:"role"`
	SupernodeAllowed   bool  `json:"supernodeAllowed"`
	SupernodeUploadCap int64 `json:"supernodeUploadCap"`
	Presence
	// AvatarPath is our display picture as a local file ("" = default).
	AvatarPath string `json:"avatarPath,omitempty"`
}

// SupernodeSettings changes the user's supernode settings; nil fields are
// left as they are.
type SupernodeSettings struct {
	// Allowed is the opt-in to serving as a supernode.
	Allowed *bool `json:"allowed,omitempty"`
	// UploadCap is the upload, in bytes per second, the relay may use on
	// all its circuits together; 0 means no cap. Negative is refused.
	UploadCap *int64 `json:"uploadCap,omitempty"`
}

// LoginRequest is what signing in needs. Server may be empty to use the one
// remembered in the profile. Status is the status to sign in with (MSN's
// "Sign in as"); empty means online.
type LoginRequest struct {
	Server   string `json:"server,omitempty"`
	Username string `json:"username"`
	Password string `json:"password"`
	Status   Status `json:"status,omitempty"`
}

// Snapshot is the state a Watch starts with.
type Snapshot struct {
	Account  *Account  `json:"account,omitempty"` // nil when signed out
	Contacts []Contact `json:"contacts"`
}

// Delivery reports that a peer acknowledged a message.
type Delivery struct {
	ID string `json:"messageId"`
	To string `json:"to"`
}

// ContactRequestEvent is an incoming authorization request.
type ContactRequestEvent struct {
	From    string `json:"from"`
	Message string `json:"message"`
}

// TypingEvent: a contact is typing to us. It is sent at most every
// TypingInterval while they type; show it until TypingTimeout after the
// last one, or until their message arrives.
type TypingEvent struct {
	From string `json:"from"`
}

// SecurityEvent: the end-to-end protection of the conversation with a
// contact changed in a way the user must see. SECURITY.md ("When a message
// goes in a v1 box") says when each kind can happen.
type SecurityEvent struct {
	Contact string       `json:"contact"`
	Kind    SecurityKind `json:"kind"`
	Time    time.Time    `json:"time"`
}

// SecurityKind is what a SecurityEvent reports.
type SecurityKind string

// Security event kinds.
const (
	// SecuritySentUnprotected: messages to the contact go sealed with the
	// two devices' static keys (a v1 box): no forward secrecy and no
	// post-quantum protection. Only for a device we never spoke to through
	// the ratchet and that has published no prekeys at any of its homes.
	SecuritySentUnprotected SecurityKind = "sentUnprotected"
	// SecurityReceivedUnprotected: a message from the contact came in a v1
	// box (its device is an older release, or found no prekeys of ours).
	SecurityReceivedUnprotected SecurityKind = "receivedUnprotected"
	// SecurityWaitingForKeys: messages to the contact wait in the outbox,
	// because its device is pinned to the ratchet and no usable prekeys of
	// it are to be had now; they go once its homes serve some.
	SecurityWaitingForKeys SecurityKind = "waitingForKeys"
	// SecurityProtected: after one of the above, messages to the contact
	// go in a ratchet session again (forward secrecy, post-quantum).
	SecurityProtected SecurityKind = "protected"
)

// ReadEvent: how far the user has read a conversation changed, on this
// device (MarkRead) or on another device of the account; Unread is what is
// left unread in it now. Every window showing the conversation updates,
// and at 0 its notifications can go.
type ReadEvent struct {
	Conversation string `json:"conversation"` // a contact's username or a multi-party conversation's ID
	Unread       int    `json:"unread"`
}

// NudgeEvent: a contact nudged us (MSN shook the conversation window).
type NudgeEvent struct {
	From string    `json:"from"`
	Time time.Time `json:"time"`
}

// Typing and nudge timing. Nudge sends at most one nudge per NudgeInterval
// to a contact (ErrRateLimited otherwise), and a node shows at most one per
// NudgeInterval from each contact.
const (
	TypingInterval = 3 * time.Second
	TypingTimeout  = 6 * time.Second
	NudgeInterval  = 10 * time.Second
)

// HistoryQuery searches all conversations. Text is words as a user types
// them (every word must match, prefixes of the last one too); With limits
// the search to one contact. Hits come newest first; Before, if not zero,
// continues after the last hit of a previous page (its Seq).
type HistoryQuery struct {
	Text   string `json:"text"`
	With   string `json:"with,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Before int64  `json:"before,omitempty"`
}

// HistoryHit is one message that matched, with a snippet of its text
// around the match: the matched words are between Mark[0] and Mark[1]
// pairs, as byte offsets into Snippet.
type HistoryHit struct {
	Message
	Seq     int64    `json:"seq"`
	Snippet string   `json:"snippet"`
	Marks   [][2]int `json:"marks"`
}

// Role is what a node does for the network.
type Role string

// Roles.
const (
	RoleNode      Role = "node"
	RoleSupernode Role = "supernode"
)

// RoleEvent reports that the node became a supernode or stopped being one
// (or that an attempt to become one failed: Error is set).
type RoleEvent struct {
	Role   Role      `json:"role"`
	Reason string    `json:"reason"` // which condition changed: one of the RoleReason constants
	Time   time.Time `json:"time"`
	Error  string    `json:"error,omitempty"`
}

// Why the role changed (RoleEvent.Reason): a fixed vocabulary, in English
// words for logs and programs; a front end shows its own sentence per value.
const (
	RoleReasonConditionsHold = "conditions hold"
	RoleReasonOptedOut       = "not allowed by the user"
	RoleReasonNotPublic      = "not publicly reachable"
	RoleReasonNoTCP          = "no public TCP address"
	RoleReasonNoQUIC         = "no public QUIC address"
	RoleReasonLowMemory      = "not enough memory"
	RoleReasonStartFailed    = "starting supernode services failed"
	RoleReasonShutdown       = "shutting down"
)

// Why the node ended a session the user did not end (Event.SignedOutCode).
const (
	// SignedOutRevoked: this device was removed from the account here.
	SignedOutRevoked = "device_revoked"
	// SignedOutRevokedElsewhere: another of the account's devices removed
	// this one.
	SignedOutRevokedElsewhere = "device_revoked_elsewhere"
)

// Event is one item of the Watch stream. Exactly the fields that changed are
// non-nil; the first event of every stream carries only Snapshot.
type Event struct {
	Snapshot  *Snapshot `json:"snapshot,omitempty"`
	Account   *Account  `json:"account,omitempty"`   // signed in, or presence of our own changed
	SignedOut bool      `json:"signedOut,omitempty"` // the session ended
	// Transfer: a file transfer changed (offered, accepted, progress,
	// paused, done, ...).
	Transfer *Transfer `json:"transfer,omitempty"`
	// StreamIncoming: a contact opened a live stream to us.
	StreamIncoming *StreamEvent `json:"streamIncoming,omitempty"`
	// SignedOutReason says why the session ended when the user did not
	// end it, in English words for logs and programs ("This computer was
	// removed from your account."); SignedOutCode says it as a stable code
	// (SignedOutRevoked, ...) for a front end to put in its own words.
	SignedOutReason string               `json:"signedOutReason,omitempty"`
	SignedOutCode   string               `json:"signedOutCode,omitempty"`
	Contact         *Contact             `json:"contact,omitempty"` // relation or presence of a contact changed
	ContactRemoved  string               `json:"contactRemoved,omitempty"`
	ContactRequest  *ContactRequestEvent `json:"contactRequest,omitempty"`
	Message         *Message             `json:"message,omitempty"` // a new message, in or out
	Delivered       *Delivery            `json:"delivered,omitempty"`
	Typing          *TypingEvent         `json:"typing,omitempty"`
	Conversation    *ConversationEvent   `json:"conversation,omitempty"`
	Nudge           *NudgeEvent          `json:"nudge,omitempty"`
	// Read: a conversation's read mark moved (MarkRead, here or on
	// another device of the account).
	Read *ReadEvent `json:"read,omitempty"`
	Role *RoleEvent `json:"role,omitempty"`
	// Security: how messages to or from a contact are protected changed
	// (sent or received without forward secrecy, waiting for keys, or
	// protected again).
	Security *SecurityEvent `json:"security,omitempty"`
	// OfflineMessages: at sign-in, after the Account event, what waited
	// in our mailboxes — messages contacts left while we were offline.
	// Each was also a Message event. None when nothing waited.
	OfflineMessages *OfflineMessagesEvent `json:"offlineMessages,omitempty"`
	// RoomMessage: a message in a chat room we joined, shown once (a
	// rejoin's backlog repeats none already shown); RoomEvent: a change
	// in one (someone joined or left, the topic, a moderation action).
	RoomMessage *RoomMessage `json:"roomMessage,omitempty"`
	RoomEvent   *RoomEvent   `json:"roomEvent,omitempty"`
	// History: a hand-over of the recent history between this device and
	// another of our account's moved on or ended (node/handover): a new
	// device receiving it, or the device that sends it.
	History *HistoryEvent `json:"history,omitempty"`
	// CallIncoming: a contact calls us; CallState: a call moved
	// (node/call); CallStats: a running call's delay, loss and quality.
	CallIncoming *IncomingCall `json:"callIncoming,omitempty"`
	CallState    *CallEvent    `json:"callState,omitempty"`
	CallStats    *CallStats    `json:"callStats,omitempty"`
}

// Directions of a HistoryEvent.
const (
	HistorySending   = "sending"   // this device sends its history to a new device of ours
	HistoryReceiving = "receiving" // this new device receives the history from another of ours
)

// HistoryEvent is the progress of a hand-over of the recent history
// between two devices of our account, sent as each chunk is stored (or
// sent) and once more when it ends.
type HistoryEvent struct {
	Direction string `json:"direction"` // HistorySending or HistoryReceiving
	// Device is the other device's peer ID.
	Device string `json:"device"`
	// Done of Total messages so far (receiving: stored, duplicates
	// included; sending: sent). Total may grow while it runs.
	Done  int `json:"done"`
	Total int `json:"total"`
	// Finished: the hand-over ended; Error says why it failed, if it did.
	Finished bool   `json:"finished,omitempty"`
	Error    string `json:"error,omitempty"`
}

// OfflineMessagesEvent sums up the messages that waited in our mailboxes
// at sign-in, for a notice such as "3 messages arrived while you were
// away".
type OfflineMessagesEvent struct {
	Count int `json:"count"`
	// From are their senders, each once, in the order of their first
	// message.
	From []string `json:"from"`
	// In are the conversations they are in — a contact's username, or a
	// multi-party conversation's ID — each once, in the same order.
	In []string `json:"in"`
}

// API is what front ends use. *Node implements it; front ends accept the
// interface so they can be tested against a fake.
type API interface {
	Register(ctx context.Context, server, username, password string) error
	Login(ctx context.Context, req LoginRequest) (Account, error)
	Logout(ctx context.Context) error
	// Account returns the signed-in account (ErrNotLoggedIn when signed
	// out): what the latest Account event carried.
	Account(ctx context.Context) (Account, error)

	AddContact(ctx context.Context, username, message string) error
	AcceptContact(ctx context.Context, username string) error
	DeclineContact(ctx context.Context, username string) error
	BlockContact(ctx context.Context, username string) error
	UnblockContact(ctx context.Context, username string) error
	RemoveContact(ctx context.Context, username string) error
	Contacts(ctx context.Context) ([]Contact, error)
	// SetContactGroup files a contact under group ("" = no group);
	// RenameContact names it in our list ("" = its own nick). Local only.
	SetContactGroup(ctx context.Context, username, group string) error
	RenameContact(ctx context.Context, username, alias string) error

	SetPresence(ctx context.Context, u PresenceUpdate) error
	// SetAvatar makes the picture in the file at path (PNG, JPEG or GIF)
	// our display picture, cropped to crop and scaled to AvatarSize; an
	// empty path goes back to the default picture. Contacts are told.
	SetAvatar(ctx context.Context, path string, crop Crop) error
	// Typing tells the contact we are typing to them (throttled to one
	// signal per TypingInterval; nothing is stored or mailed).
	Typing(ctx context.Context, to string) error
	// Nudge shakes the contact's conversation window: ErrRateLimited
	// within NudgeInterval of the last nudge to them, ErrUnreachable when
	// they cannot be reached now (nudges are not mailed).
	Nudge(ctx context.Context, to string) error
	// Invite brings username into a conversation: with is a contact (the
	// two-party conversation with them grows into a new multi-party one,
	// which is returned) or a conversation's ID (it is returned). username
	// must be our accepted contact.
	Invite(ctx context.Context, with, username string) (string, error)
	// LeaveConversation leaves a multi-party conversation; its members are
	// told, and nothing more of it reaches us.
	LeaveConversation(ctx context.Context, id string) error
	// Conversations lists the multi-party conversations we are or were in.
	Conversations(ctx context.Context) ([]Conversation, error)
	// SearchHistory searches every conversation's messages (full text).
	SearchHistory(ctx context.Context, q HistoryQuery) ([]HistoryHit, error)
	// SetSupernode records the user's supernode settings (remembered for
	// the account): the opt-in to serving as a supernode — promotion still
	// needs the node to be publicly reachable with enough memory — and the
	// upload cap, applied at once if it serves now.
	SetSupernode(ctx context.Context, s SupernodeSettings) error

	// Devices lists the account's devices; RevokeDevice removes one (this
	// one too): its tickets stop working at the auth server and, within a
	// poll interval, at every supernode and contact. Removing another
	// device needs the account's password (a stolen signed-in device must
	// not remove its owner's others): a wrong one is ErrLoginFailed and
	// counts as a failed login. Removing this one ignores it.
	Devices(ctx context.Context) ([]Device, error)
	RevokeDevice(ctx context.Context, peerID, password string) error
	// ChangePassword changes the account's password at the auth server
	// and re-seals this device's keys under the new one. Other devices
	// stay signed in; they need the new password at their next sign-in.
	ChangePassword(ctx context.Context, oldPassword, newPassword string) error

	// OpenStream opens a live stream to a contact (who must be reachable
	// now): an ordered, flow-controlled, end-to-end encrypted byte stream
	// the contact reads while it is written. Write to it, then Close (an
	// unclosed stream reads as truncated on the other side). The contact
	// sees a StreamIncoming event and takes the stream with AcceptStream.
	OpenStream(ctx context.Context, to, label string) (id string, w io.WriteCloser, err error)
	// AcceptStream takes an incoming stream announced by a StreamIncoming
	// event (within StreamClaimTimeout; after that it is refused).
	AcceptStream(ctx context.Context, id string) (io.ReadCloser, error)

	// SendFile offers a file to a contact; it returns the transfer's ID.
	// The contact accepts or declines; progress and the outcome come as
	// Transfer events.
	SendFile(ctx context.Context, to, path string) (string, error)
	// AcceptFile takes an offered file into dir (empty: the default
	// download folder); DeclineFile refuses it.
	AcceptFile(ctx context.Context, id, dir string) error
	DeclineFile(ctx context.Context, id string) error
	// PauseTransfer, ResumeTransfer and CancelTransfer work from either
	// side; a cancelled transfer leaves no partial file.
	PauseTransfer(ctx context.Context, id string) error
	ResumeTransfer(ctx context.Context, id string) error
	CancelTransfer(ctx context.Context, id string) error
	// Transfers lists this account's transfers, oldest first.
	Transfers(ctx context.Context) ([]Transfer, error)

	// SafetyNumber returns what to compare with a contact to verify the
	// end-to-end encryption; VerifyContact records that it was compared.
	SafetyNumber(ctx context.Context, username string) (Safety, error)
	VerifyContact(ctx context.Context, v Verification) error

	// Send queues text for to and returns the message's ID once it is
	// durably stored; delivery is reported by a Delivered event.
	Send(ctx context.Context, to, text string) (string, error)
	// History returns up to limit messages with a contact, newest last,
	// older than the message with ID before (all when before is empty).
	History(ctx context.Context, with string, limit int, before string) ([]Message, error)
	// MarkRead marks a conversation (a contact or a multi-party
	// conversation) read up to its newest incoming message, and tells the
	// account's other devices so they clear it too. A Read event follows
	// when the mark moved; nothing happens when all was read already.
	MarkRead(ctx context.Context, conversation string) error

	// Chat rooms (rooms.go).
	Rooms
	// Voice calls (calls.go).
	Calls

	// Watch streams events until ctx ends; the first is a Snapshot. A slow
	// reader does not block the node: events are buffered per watcher.
	Watch(ctx context.Context) <-chan Event
}
