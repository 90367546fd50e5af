package wire

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Room limits: every bound on a room's name, its signed state and its
// traffic, in one place. node/room enforces them on every op it verifies, so
// a room's state has a bounded size whatever its owner and operators sign.
const (
	MinRoomName  = 3
	MaxRoomName  = 48
	MaxRoomTopic = 512 // UTF-8 bytes
	// MaxRoomOp bounds a serialized RoomOp: the largest (a create with the
	// longest topic, a password and every mode) takes 722 bytes.
	MaxRoomOp = 2 << 10
	// MaxSignedRoomOp bounds a serialized SignedRoomOp: an op, a 64-byte
	// signature and a ticket (about 300 bytes, MaxPrekeyTicket at most).
	MaxSignedRoomOp = MaxRoomOp + 128 + MaxPrekeyTicket

	MaxRoomOperators = 64    // operators besides the owner
	MaxRoomVoiced    = 2000  // voiced users of a moderated room
	MaxRoomBans      = 1000  // bans in force; expired ones are pruned as ops apply
	MaxRoomInvites   = 2000  // invitations to an invite-only room
	MaxRoomMembers   = 10000 // the highest member limit a room may set
	MaxRoomMessageID = 64    // bytes of a room message's ID

	MaxRoomSlowSeconds       = 3600
	MaxRoomMinAccountMinutes = 30 * 24 * 60
	// MaxRoomFloodMessages is both the highest flood limit a room may set
	// and how many send times a home keeps per member to enforce it.
	MaxRoomFloodMessages = 20
	MaxRoomFloodSeconds  = 3600

	// DefaultRoomFloodMessages in DefaultRoomFloodWindow is the flood limit
	// of a room that set none: flood protection is on by default.
	DefaultRoomFloodMessages = 5
	DefaultRoomFloodWindow   = 10 * time.Second

	RoomPasswordSalt = 16 // bytes of a room password's salt
	RoomPasswordHash = 32 // bytes of its Argon2id hash
	MaxRoomPassword  = 128
)

// The room protocol (ProtoRoom): sizes, timeouts and the bounds of what a
// home keeps for its members, in one place.
const (
	MaxRoomText = 4 << 10 // UTF-8 bytes of one room message's text
	// MaxRoomMessage bounds a serialized RoomMessage: the text (or, in an
	// invite-only room, its sealed form: a key ID, a nonce and a 16-byte
	// tag more), an ID, a name, an author and a time, and a plain
	// message's nick (MaxNick) and picture hash (32 bytes).
	MaxRoomMessage = MaxRoomText + 320 + MaxNick + 40
	// MaxSignedRoomMessage bounds a serialized SignedRoomMessage: the
	// message, a 64-byte signature and the author's ticket.
	MaxSignedRoomMessage = MaxRoomMessage + 128 + MaxPrekeyTicket
	// MaxRoomRequest bounds a request frame: an op or a message, the
	// requester's ticket and a region pass.
	MaxRoomRequest = 16 << 10
	// MaxRoomFrame bounds an answer or a pushed event: the largest is a
	// page of RoomOpsPage ops (about 800 KiB) or a backlog of
	// RoomBacklog messages (about 550 KiB).
	MaxRoomFrame = 1 << 20
	RoomOpsPage  = 256 // ops in one RoomOpsRequest answer
	RoomBacklog  = 100 // the most messages a backlog request returns (a home keeps RoomMessagesKept)
	// RoomBudget is the request bytes a home's room service holds at
	// once; a joined stream keeps its join request (under 2 KiB) reserved
	// while it lasts, so it bounds subscriptions too.
	RoomBudget = 16 << 20
	// RoomTimeout bounds a one-request room stream; RoomWriteTimeout each
	// event pushed on a joined stream, which has no deadline of its own.
	RoomTimeout      = 10 * time.Second
	RoomWriteTimeout = 10 * time.Second
	// RoomWriteBatch is how many bytes of queued events a home writes to
	// one joined member at once (one write, one deadline): a busy room's
	// events go out in few writes rather than one each. A single event
	// larger than this still goes whole.
	RoomWriteBatch = 64 << 10
	// RoomWriteGap is the least time between two writes to one joined
	// member: the events of a busy room wait at most this long and go out
	// together, so a home of 1,000 members at 100 messages a second makes
	// about 20,000 writes a second, not 100,000 (and each member reads and
	// decrypts a fifth as many records). The first event after a quiet
	// spell goes at once.
	RoomWriteGap = 50 * time.Millisecond
	// RoomQueue is how many events wait for one joined member; a member
	// further behind is dropped (ended "lagging") and catches up from the
	// backlog and the chain, so a slow reader never holds a home's memory.
	RoomQueue = 256
	// MaxRoomsJoined is how many rooms one device may have joined at one
	// home at once: each is a stream held open, and a home's resource
	// manager lets one peer hold 96 inbound streams in all
	// (supernode.ResourceLimits), so it gives the room protocol this many
	// plus room for requests.
	MaxRoomsJoined = 48
	// RoomJoinRate per second, with bursts of RoomJoinBurst, bounds one
	// account's join attempts at a home: a room password costs the home an
	// Argon2id evaluation per guess.
	RoomJoinRate  = 1
	RoomJoinBurst = 10
	// RoomMembersListed is the most usernames a join's answer lists: the
	// members joined at the home (a member list beyond that shows the
	// count and the lines that follow).
	RoomMembersListed = 1000
	// MaxRoomReportReason bounds a report's words; a home keeps at most
	// RoomReportsKept reports of a room for RoomReportsFor while no owner
	// or operator is joined there to take them (in memory: a restart
	// forgets them). Reports cost a join attempt of the reporter's
	// (RoomJoinRate).
	MaxRoomReportReason = 512
	// MaxModeratedRegions is the most regions one account moderates the
	// regional rooms of (a ticket's moderates).
	MaxModeratedRegions = 16
	RoomReportsKept     = 32
	RoomReportsFor      = 7 * 24 * time.Hour
)

// Invite-only rooms' end-to-end encryption (node/rooms, docs/ROOMS.md
// "Invite-only rooms"): every member's sender key, sent to the others over
// the pairs' end-to-end sessions, and the bounds of what a member keeps.
const (
	RoomKeyID     = 16 // bytes of a sender key's random ID
	RoomChainKey  = 32 // bytes of a sender key
	RoomSealNonce = 24 // bytes of an XChaCha20-Poly1305 nonce
	RoomSealTag   = 16 // bytes the AEAD adds
	// MaxRoomSealed bounds a sealed text: the longest text and its tag.
	MaxRoomSealed = MaxRoomText + RoomSealTag
	// RoomKeysPerAuthor is how many of one author's sender keys a member
	// keeps per room (the newest): a message under an older one waits in
	// vain and is dropped with the pending ones.
	RoomKeysPerAuthor = 4
	// RoomKeyStash bounds the keys a member keeps for rooms it has not
	// joined (yet): keys sent to a newcomer may arrive before its join
	// completes.
	RoomKeyStash = 256
	// RoomPending is how many messages under a key not yet received one
	// room keeps waiting for it; the oldest is dropped beyond.
	RoomPending = 64
	// RoomKeyAskInterval spaces one member's requests for one author's
	// key, and one member's answers to one requester.
	RoomKeyAskInterval = 30 * time.Second
)

// Strangers' nicks and pictures (node/rooms/faces.go, docs/ROOMS.md): a
// plain room message carries its author's nick and picture hash; a member
// asks an author who is not its contact for the picture (a RoomPicture
// payload) and keeps it in a cache of its own, bounded in every direction.
const (
	// MaxRoomPicture is the largest picture sent or taken this way: any
	// display picture SetAvatar makes of a photo (96 pixels a side),
	// small enough that an answer, sealed and padded, fits one mail item.
	// A larger picture is not advertised in rooms.
	MaxRoomPicture = 32 << 10
	// RoomPictureFetches is how many strangers' pictures a member asks
	// for at once; an ask counts until its answer or RoomPictureWait.
	RoomPictureFetches = 4
	RoomPictureWait    = 2 * time.Minute
	// RoomPictureRetry spaces asks for one author's picture, and answers
	// to one requester.
	RoomPictureRetry = 10 * time.Minute
	// RoomPictureAnswers bounds the answers a member sends in a
	// RoomPictureRetry, whoever asks.
	RoomPictureAnswers = 64
	// RoomPicturesCached is how many strangers' pictures a member keeps
	// on disk (the least recently shown go first), and RoomFaces how many
	// authors' nicks and pictures it remembers per room.
	RoomPicturesCached = 256
	RoomFaces          = 1000
)

// The room directory and the spam limits on creating rooms, enforced by a
// room's home (docs/ROOMS.md, "The directory").
const (
	// MaxRoomQuery bounds a directory query's bytes and MaxRoomQueryWords
	// its words; every word must be in a room's name or topic.
	MaxRoomQuery      = 128
	MaxRoomQueryWords = 8
	// RoomDirectoryPage is the most rooms one directory answer holds.
	RoomDirectoryPage = 100
	// RoomDirectorySupernodes is how many supernodes a directory search
	// asks at once (each answers for the rooms it homes).
	RoomDirectorySupernodes = 32
	// RoomListRate per second, with bursts of RoomListBurst, bounds one
	// account's directory searches at a home.
	RoomListRate  = 2
	RoomListBurst = 10
	// RoomCreatesPerWindow rooms per RoomCreateWindow is what one account
	// may create at a home, deleted rooms included: creating and deleting
	// frees nothing.
	RoomCreatesPerWindow = 3
	RoomCreateWindow     = time.Hour
	// MaxRoomsOwned is how many rooms, not deleted, one account may own
	// when it creates another.
	MaxRoomsOwned = 10
)

// RegionalRoomPrefix starts the name of every regional room ("region-es"):
// such rooms belong to no user, so no one may create one with an op.
const RegionalRoomPrefix = "region-"

// ErrBadRoomName is what ValidRoomName returns, wrapped, for a name no room
// can have.
var ErrBadRoomName = errors.New("invalid room name")

// ValidRoomName reports whether name is a valid room name: MinRoomName to
// MaxRoomName lowercase letters, digits, '.', '_' or '-' (as usernames, so
// a name reads the same everywhere and no look-alike Unicode can imitate
// another room), starting with a letter or a digit. Rooms are addressed by
// name, and their homes are chosen by hashing it, so it is the one place the
// rule is written.
func ValidRoomName(name string) error {
	if len(name) < MinRoomName || len(name) > MaxRoomName {
		return fmt.Errorf("%w: a room name is %d to %d characters", ErrBadRoomName, MinRoomName, MaxRoomName)
	}
	for i, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("%w: a room name holds only lowercase letters, digits, '.', '_' and '-', and starts with a letter or digit", ErrBadRoomName)
		}
	}
	return nil
}

// RegionalRoom is the name of region's room; region is a two-letter
// country code as the auth server signs it into tickets.
func RegionalRoom(region string) string {
	return RegionalRoomPrefix + strings.ToLower(region)
}

// RoomRegion is the region whose room name is, or "" if name is not a
// regional room's.
func RoomRegion(name string) string {
	code, ok := strings.CutPrefix(name, RegionalRoomPrefix)
	if !ok || len(code) != 2 || code[0] < 'a' || code[0] > 'z' || code[1] < 'a' || code[1] > 'z' {
		return ""
	}
	return strings.ToUpper(code)
}

// Replication among a room's homes (docs/ROOMS.md, "Replication and
// failover").
const (
	// RoomReplicaTimeout bounds a replica pushed to a home and a catch-up
	// page, and a primary's whole catch-up; RoomForwardTimeout a forward
	// to the primary, which may catch up and then replicate before it
	// answers, so it is longer than both together and shorter than the
	// member's own RoomTimeout. A home that does not answer within them
	// counts towards taking it for dead (RoomHomeFailures).
	RoomReplicaTimeout = 3 * time.Second
	RoomForwardTimeout = 8 * time.Second
	// RoomHomeDown is how long a home taken for dead is skipped as
	// primary and replica before it is tried again; the registry's list
	// drops a dead supernode after its heartbeat TTL in any case.
	RoomHomeDown = 30 * time.Second
	// A home that does not answer a call is only suspect: a slow primary
	// (a home under overload) is not a dead one, and taking it for dead
	// makes another home sequence beside it (two message orders, then
	// messages stored and pushed again). It is taken for dead after
	// RoomHomeFailures calls in a row without an answer, the first of
	// them at least RoomHomeSuspect before the last — a burst of calls
	// timing out together in one stall counts once — or at once when it
	// cannot be connected to at all (a dead or unreachable process),
	// which a dial within RoomHomeDial tells. Any answer clears it, and
	// so does RoomHomeDown without a failure.
	RoomHomeFailures = 3
	RoomHomeSuspect  = RoomTimeout
	RoomHomeDial     = RoomReplicaTimeout
	// RoomPrimaryFresh is how long a primary's catch-up with the room's
	// other homes holds: it catches up again before it next sequences
	// after it, so a home others took for dead (and sequenced without)
	// for RoomHomeDown has their items before it goes on.
	RoomPrimaryFresh = RoomHomeDown / 2
	// RoomHomesRefresh is how often a home reads the registry's list of
	// live supernodes, off the request path; RoomHomesRefreshFast how
	// often while the list changed within RoomHomesSettle (supernodes
	// coming and going), so the homes of a network in flux agree soon.
	RoomHomesRefresh     = 30 * time.Second
	RoomHomesRefreshFast = time.Second
	RoomHomesSettle      = time.Minute
	// Every RoomSyncInterval a home compares RoomSyncRooms of the rooms
	// with members joined here, in turn, with their primary (anti-entropy:
	// the ops and messages after its own, within RoomReplicaTimeout each),
	// so a home that missed a quiet room's last replica catches up without
	// waiting for the room's next item. Bounded: a few rooms a tick, only
	// rooms someone reads here; a home with R such rooms compares each
	// every RoomSyncInterval × R / RoomSyncRooms.
	RoomSyncInterval = 5 * time.Second
	RoomSyncRooms    = 8
	// RoomMessagesPage is the most ordered messages one messages-since
	// answer holds, and one page of a joined member's catch-up.
	RoomMessagesPage = RoomBacklog
)

// Catching up by message position (docs/ROOMS.md "Catching up"): a member
// dropped from its joined stream (lagging, a failover) asks, when it joins
// again, for the messages after the last position it saw.
const (
	// RoomMessagesKept is how many messages a home keeps per room (the
	// newest by arrival there, deleted ones' markers included): ten
	// backlogs, so a member dropped as lagging in a busy room catches up
	// instead of reading only the newest RoomBacklog. They count against
	// the store's global byte cap like every message.
	RoomMessagesKept = 10 * RoomBacklog
	// MaxRoomPosition is the highest message position a join may name; a
	// higher one is a bad request (no room gets near it: a position is
	// one message).
	MaxRoomPosition = 1 << 62
)
