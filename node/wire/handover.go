package wire

import "time"

// History hand-over (node/handover): a new device of an account asks
// another device of the same account for its recent history, over one
// stream between the two devices' keys.
const (
	// ProtoHandover is the hand-over protocol: a HandoverRequest, answered
	// by HandoverChunks until one says done.
	ProtoHandover = "/eserver/handover/1.0.0"

	// MaxHandoverRequest is the most bytes of a HandoverRequest (one
	// varint field: a dozen bytes).
	MaxHandoverRequest = 64
	// MaxHandoverMessages is the most messages one HandoverChunk carries:
	// the asking device stores each chunk in one transaction, so a chunk
	// is also its batch (inserts run at ~26k/s in batches of 1,000, and
	// smaller batches show progress more often).
	MaxHandoverMessages = 512
	// MaxHandoverFrame is the most bytes of one HandoverChunk. The sender
	// closes a chunk before it would pass this, so a chunk holds at least
	// one message of the longest text (MaxChatText) with its fields.
	MaxHandoverFrame = 256 << 10
	// MaxHandoverField bounds each short field of a HandoverMessage (id,
	// peer, sender, device, state, kind): IDs, usernames, conversation IDs
	// and peer IDs are all well under it.
	MaxHandoverField = 256

	// HandoverIdle is the longest the asking device waits for the next
	// chunk, and the answering device for the asker to take one: the
	// stream's deadline, moved on at every chunk. A hand-over of any size
	// goes on while chunks keep coming.
	HandoverIdle = 30 * time.Second
	// HandoverBudget bounds the bytes of hand-over frames a device holds
	// at once, over every stream (a new device asks one other at a time).
	HandoverBudget = 4 * MaxHandoverFrame
)

// Codes a HandoverChunk's error carries, besides CodeInternal.
const (
	// CodeNotOwnDevice: the asker is not another device in the answering
	// device's account list.
	CodeNotOwnDevice = "not_own_device"
)
