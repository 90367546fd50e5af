package supernode

// Global caps: every per-account table a supernode keeps (mail, contact
// lists, prekeys, rendezvous entries, relay admissions) is bounded for all
// accounts together, not only per account, because accounts cost little to
// make. A request that would take a table past its cap is refused with
// wire.CodeFull and counted (the *_full_total metrics); nothing already
// stored is evicted for it. The caps scale with the nodes the supernode is
// sized for — the same number its libp2p resource limits come from
// (ResourceLimits, SupernodeResources) — at a share per node that covers
// typical use with room to spare.

// PromotedMaxNodes is what a node promoted in place to supernode (its host
// keeps libp2p's default resource limits, about 256 inbound connections) is
// sized for: ServicesConfig.MaxNodes for it.
const PromotedMaxNodes = minMaxNodes

// Shares per node of the global caps, and the per-row overheads charged
// with each stored row so that many tiny rows cannot slip under a byte cap.
const (
	// mailBytesPerNode: a week offline receiving 100 padded chat messages
	// a day is about 700 KiB.
	mailBytesPerNode = 1 << 20
	// contactsBytesPerNode: a sealed list of a few hundred contacts is
	// tens of KiB; the 1 MiB maximum is for 5,000.
	contactsBytesPerNode = 256 << 10
	// prekeyBytesPerNode: a device's bundle (about 2 KiB) and its
	// wire.MaxOneTimeStored one-time prekeys (about 20 KiB), for the few
	// devices of a user.
	prekeyBytesPerNode = 64 << 10
	// rendezvousBytesPerNode: an entry with a few hundred visibility-token
	// hashes is about 20 KiB of memory; one with the MaxAllowed 5,000 is
	// about 324 KiB.
	rendezvousBytesPerNode = 32 << 10
	// admissionsPerNode: a few devices per node.
	admissionsPerNode = 4
	// roomBytesPerNode: a room's chain is a few KiB of ops and its
	// backlog at most 100 signed messages (about 550 KiB); most nodes
	// own no room and are members of a few. roomsPerNode: rooms created
	// here. roomJoinsPerNode: joined streams, a device in a few rooms.
	roomBytesPerNode = 64 << 10
	roomsPerNode     = 1
	roomJoinsPerNode = 16

	// mailSenderShare: one account may leave at most this fraction of the
	// mail cap here per mail TTL, within [minMailSenderBytes,
	// maxMailSenderBytes].
	mailSenderShare    = 64
	minMailSenderBytes = 16 << 20
	maxMailSenderBytes = 256 << 20

	// mailItemOverhead is charged per stored item besides its bytes: its
	// row (seq, mailbox ID, time) and its two index entries.
	mailItemOverhead = 128
	// contactsRowOverhead is charged per stored list besides its blob.
	contactsRowOverhead = 128
	// prekeyDeviceOverhead and prekeyOneTimeOverhead are charged per device
	// entry (besides its bundle) and per one-time prekey (besides its key).
	prekeyDeviceOverhead  = 256
	prekeyOneTimeOverhead = 64
	// rvEntryOverhead is an entry's memory besides its ticket, record and
	// token hashes (map slot, name, struct); rvTokenCost is one token hash
	// in the entry's set (32 bytes plus the map's share).
	rvEntryOverhead = 512
	rvTokenCost     = 64
	// rvListOverhead is a kept device list's memory besides its bytes.
	rvListOverhead = 128
)

// Caps are a supernode's global caps, for all accounts together.
type Caps struct {
	MailBytes       int64 // mailbox items on disk, with mailItemOverhead each
	MailSenderBytes int64 // what one sender may leave in the mailboxes per mail TTL
	ContactsBytes   int64 // contact-list blobs on disk, with contactsRowOverhead each
	PrekeyBytes     int64 // prekey bundles and one-time prekeys on disk, with their overheads
	RendezvousBytes int64 // rendezvous entries in memory
	Admissions      int   // peers admitted to the relay
	RoomBytes       int64 // room ops and backlog messages on disk (supernode/rooms.Limits)
	Rooms           int   // rooms created at this home
	RoomJoins       int   // joined streams of all members together
}

// CapsFor returns the global caps of a supernode sized for maxNodes nodes
// (zero or less means DefaultMaxNodes, and fewer than 256 count as 256, as
// in ResourceLimits). For DefaultMaxNodes: 10 GiB of mail (160 MiB per
// sender per TTL), 2.5 GiB of contact lists, 640 MiB of prekeys, 320 MiB of
// rendezvous memory, 40,000 relay admissions, and 640 MiB of 10,000 rooms
// with 160,000 joined streams; for 256 nodes, a promoted desktop: 256 MiB
// of mail (16 MiB per sender), 64 MiB of contact lists, 16 MiB of prekeys,
// 8 MiB of rendezvous memory, 1,024 admissions, 16 MiB of 256 rooms with
// 4,096 joined streams.
func CapsFor(maxNodes int) Caps {
	n := int64(nodesOrDefault(maxNodes))
	mail := n * mailBytesPerNode
	return Caps{
		MailBytes:       mail,
		MailSenderBytes: min(max(mail/mailSenderShare, minMailSenderBytes), maxMailSenderBytes),
		ContactsBytes:   n * contactsBytesPerNode,
		PrekeyBytes:     n * prekeyBytesPerNode,
		RendezvousBytes: n * rendezvousBytesPerNode,
		Admissions:      int(n) * admissionsPerNode,
		RoomBytes:       n * roomBytesPerNode,
		Rooms:           int(n) * roomsPerNode,
		RoomJoins:       int(n) * roomJoinsPerNode,
	}
}
