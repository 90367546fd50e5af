package api

import (
	"context"
	"time"
)

// Rooms is what front ends do with chat rooms (issue 15, docs/ROOMS.md).
// Rooms are addressed by name. Moderation signs an op on the room's state
// as this node verified it and has it sequenced at the room's home; a
// change that would change nothing (banning the banned) succeeds without
// an op. Errors: ErrBanned, ErrRoomFull, ErrNotAllowed (no right to do
// it, muted, wrong region, not joined), ErrRateLimited, ErrWrongPassword,
// ErrBadRequest (unknown room, bad name, bad value), ErrUnreachable (no
// home answered).
type Rooms interface {
	// CreateRoom creates a chat room at its home, with us as its owner.
	// It does not join it. Public rooms are in the directory; invite-only
	// rooms are end-to-end encrypted among their members.
	CreateRoom(ctx context.Context, spec RoomSpec) error
	// JoinRoom joins a room (password: its key, "" for none), shows its
	// backlog as RoomMessage events and remembers it: it is rejoined at
	// every sign-in until LeaveRoom. Public rooms are signed, not
	// encrypted: their homes read them.
	JoinRoom(ctx context.Context, room, password string) (Room, error)
	LeaveRoom(ctx context.Context, room string) error
	// RoomSend posts text in a room we joined and returns the message's
	// ID once the home took it; it comes back as a RoomMessage event.
	RoomSend(ctx context.Context, room, text string) (string, error)
	// ListRooms searches the room directory: public rooms whose name or
	// topic holds every word of query, only region's regional room when
	// region (a country code) is set, most members online first, at most
	// limit (1..100, 0: 100).
	ListRooms(ctx context.Context, query, region string, limit int) ([]RoomListing, error)
	// RoomHistory returns the room's newest messages at its home, at most
	// limit (1..100, 0: 100), oldest first.
	RoomHistory(ctx context.Context, room string, limit int) ([]RoomMessage, error)
	// RoomMessages returns the messages of a room this node showed, as it
	// kept them (the newest MaxRoomKept of each room joined; leaving a room
	// drops them): at most limit (0: all), oldest first, older than the
	// message with ID before (all when before is empty; ErrBadRequest when
	// no message kept has that ID). Each was stored before its RoomMessage
	// event went out, so a front end that missed events (its daemon was
	// stopped or killed, a window was closed) reads here what it missed.
	RoomMessages(ctx context.Context, room string, limit int, before string) ([]RoomMessage, error)

	// RoomInfo is the state of a room we joined, as we verified it.
	RoomInfo(ctx context.Context, room string) (RoomInfo, error)
	// RoomMembers are the room's members: everyone joined now and
	// everyone with a role, owner first, then operators, voiced members
	// and the rest, each by name.
	RoomMembers(ctx context.Context, room string) ([]RoomMember, error)

	// Moderation, for the owner and operators (docs/ROOMS.md has who may
	// do what to whom). A kick removes a member now (they may rejoin); a
	// ban removes them and keeps them out, for d or (d = 0) until unbanned.
	RoomKick(ctx context.Context, room, username string) error
	RoomBan(ctx context.Context, room, username string, d time.Duration) error
	RoomUnban(ctx context.Context, room, username string) error
	RoomOp(ctx context.Context, room, username string, op bool) error
	RoomVoice(ctx context.Context, room, username string, voice bool) error
	RoomInvite(ctx context.Context, room, username string) error
	// RoomSetTopic: the owner and operators, and anyone when the topic is
	// not locked.
	RoomSetTopic(ctx context.Context, room, topic string) error
	// RoomSetModes changes the modes set in m and keeps the others.
	RoomSetModes(ctx context.Context, room string, m RoomModesChange) error
	// DeleteRoom ends a room for good (the owner only).
	DeleteRoom(ctx context.Context, room string) error
	// RoomDeleteMessage deletes a message for everyone: its author may,
	// and the owner and operators.
	RoomDeleteMessage(ctx context.Context, room, id string) error
	// RoomReport tells the room's owner (and operators) about a member,
	// and the message (messageID, may be empty) that made us report them.
	RoomReport(ctx context.Context, room, username, messageID, reason string) error
}

// RoomSpec is a room to create.
type RoomSpec struct {
	Room       string `json:"room"`
	Topic      string `json:"topic,omitempty"`
	Public     bool   `json:"public"`
	InviteOnly bool   `json:"inviteOnly"`
}

// RoomRole is what a member may do in a room.
type RoomRole string

// Roles, strongest first.
const (
	RoomRoleOwner  RoomRole = "owner"
	RoomRoleOp     RoomRole = "op"
	RoomRoleVoice  RoomRole = "voice"
	RoomRoleMember RoomRole = "member"
)

// RoomMember is a member of a room. Status is the member's presence in
// the room: StatusOnline while joined at the home we are attached to,
// else StatusOffline (a front end may show a contact's own status).
type RoomMember struct {
	Username string   `json:"username"`
	Role     RoomRole `json:"role"`
	Status   Status   `json:"status"`
	// Nick and AvatarPath are how the member showed itself in its newest
	// message we saw (RoomMessage's): empty when it has not spoken.
	Nick       string `json:"nick,omitempty"`
	AvatarPath string `json:"avatarPath,omitempty"`
}

// RoomModesSettings are a room's modes as they stand. The password is
// never shown: only whether there is one.
type RoomModesSettings struct {
	Public            bool `json:"public"`
	InviteOnly        bool `json:"inviteOnly"`
	Moderated         bool `json:"moderated"`
	TopicLocked       bool `json:"topicLocked"`
	HasPassword       bool `json:"hasPassword"`
	Limit             int  `json:"limit"`             // members; 0: none
	SlowSeconds       int  `json:"slowSeconds"`       // 0: off
	MinAccountMinutes int  `json:"minAccountMinutes"` // 0: none
	// FloodMessages in FloodSeconds is the flood limit; both 0: off.
	FloodMessages int `json:"floodMessages"`
	FloodSeconds  int `json:"floodSeconds"`
}

// RoomModesChange are the modes to change; nil fields are kept. An empty
// Password removes the password.
type RoomModesChange struct {
	Public            *bool   `json:"public,omitempty"`
	InviteOnly        *bool   `json:"inviteOnly,omitempty"`
	Moderated         *bool   `json:"moderated,omitempty"`
	TopicLocked       *bool   `json:"topicLocked,omitempty"`
	Password          *string `json:"password,omitempty"`
	Limit             *int    `json:"limit,omitempty"`
	SlowSeconds       *int    `json:"slowSeconds,omitempty"`
	MinAccountMinutes *int    `json:"minAccountMinutes,omitempty"`
}

// RoomBanEntry is a ban in force.
type RoomBanEntry struct {
	Username string    `json:"username"`
	Until    time.Time `json:"until,omitzero"` // zero: until unbanned
}

// RoomInfo is a room's state as the node verified it from its signed
// chain.
type RoomInfo struct {
	Room   string `json:"room"`
	Topic  string `json:"topic"`
	Owner  string `json:"owner,omitempty"`  // none for a regional room
	Region string `json:"region,omitempty"` // a regional room's country code
	// Role is ours; Encrypted says whether its messages are end-to-end
	// encrypted (invite-only rooms) or only signed (the others).
	Role      RoomRole          `json:"role"`
	Encrypted bool              `json:"encrypted"`
	Modes     RoomModesSettings `json:"modes"`
	Operators []string          `json:"operators"`
	Voiced    []string          `json:"voiced"`
	Invited   []string          `json:"invited"`
	Bans      []RoomBanEntry    `json:"bans"`
}

// MaxRoomHistory is the most messages RoomHistory returns: a room's
// backlog (wire.RoomBacklog).
const MaxRoomHistory = 100

// MaxRoomKept is how many messages of each room this node keeps for
// RoomMessages (store.RoomMessagesKept).
const MaxRoomKept = 1000

// RoomListing is a room of the directory (ListRooms), as its home lists
// it: a listing, not the room's state, which joining verifies.
type RoomListing struct {
	Room   string `json:"room"`
	Topic  string `json:"topic"`
	Region string `json:"region,omitempty"` // a regional room's country code
	// Members are the users joined at the room's home; Online the same
	// number (a member is joined while its node is online).
	Members int  `json:"members"`
	Online  int  `json:"online"`
	Public  bool `json:"public"` // always: the directory lists public rooms only
}

// Room is a chat room as JoinRoom found it.
type Room struct {
	Room  string `json:"room"`
	Topic string `json:"topic"`
	// Members are the users joined at the room's home we attached to,
	// ourselves included.
	Members int `json:"members"`
}

// RoomMessage is one message of a chat room, its author's signature
// verified. ID is chosen by the author and unique in the room.
type RoomMessage struct {
	Room string    `json:"room"`
	ID   string    `json:"id"`
	From string    `json:"from"`
	Text string    `json:"text"`
	Time time.Time `json:"time"` // the author's clock when signing
	// Nick is the display name the author signed with the message,
	// cleaned of bidi and invisible characters ("" when it sent none, and
	// in invite-only rooms); it is the author's claim, shown for members
	// who are not contacts, never in place of a contact's name.
	// AvatarPath is the author's display picture as a local file once we
	// hold it ("" = the default, or not fetched yet: a roomEvent
	// "picture" follows when it arrives).
	Nick       string `json:"nick,omitempty"`
	AvatarPath string `json:"avatarPath,omitempty"`
}

// RoomEventKind is what changed in a room.
type RoomEventKind string

// Room event kinds: a user joined or left (at the home we are attached
// to), and the room's signed ops, each shown as a line everyone sees.
const (
	RoomJoin    RoomEventKind = "join"
	RoomLeave   RoomEventKind = "leave"
	RoomKick    RoomEventKind = "kick"
	RoomBan     RoomEventKind = "ban"
	RoomUnban   RoomEventKind = "unban"
	RoomOp      RoomEventKind = "op"
	RoomDeop    RoomEventKind = "deop"
	RoomVoice   RoomEventKind = "voice"
	RoomDevoice RoomEventKind = "devoice"
	RoomTopic   RoomEventKind = "topic"
	RoomModes   RoomEventKind = "modes"
	RoomDeleted RoomEventKind = "deleted"
	// RoomInvited: someone was invited to an invite-only room;
	// RoomOwner: the room changed hands (Username is the new owner);
	// RoomMessageDeleted: a message (ID) was deleted for everyone;
	// RoomReported: a member reported a user (and maybe a message) to
	// us, the owner or an operator — seen by no one else.
	RoomInvited        RoomEventKind = "invite"
	RoomOwner          RoomEventKind = "owner"
	RoomMessageDeleted RoomEventKind = "messageDeleted"
	RoomReported       RoomEventKind = "report"
	// RoomPicture: the display picture of Username, a member who is not
	// a contact, arrived (AvatarPath): their messages and member row
	// show it from now on.
	RoomPicture RoomEventKind = "picture"
)

// RoomEvent is a change in a room: Username is whom it is about (who
// joined, was kicked, ...), By who did it (an op's author), Topic the new
// topic of a topic event.
type RoomEvent struct {
	Room     string        `json:"room"`
	Kind     RoomEventKind `json:"kind"`
	Username string        `json:"username,omitempty"`
	By       string        `json:"by,omitempty"`
	Topic    string        `json:"topic,omitempty"`
	// ID is the message a messageDeleted or report event is about.
	ID string `json:"id,omitempty"`
	// Until is when a ban ends (zero: it does not).
	Until time.Time `json:"until,omitzero"`
	// Reason is a report's words, as its author wrote them.
	Reason string `json:"reason,omitempty"`
	// AvatarPath is a picture event's picture, as a local file.
	AvatarPath string `json:"avatarPath,omitempty"`
}
