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
	// is also its batch. Storing is what limits a hand-over (the wire
	// moves its bytes hundreds of times faster), and a batch of 512 cost
	// about 1.3 times what one of 1,000 did per message here
	// (BENCHMARKS.md); larger batches only show progress less often.
	MaxHandoverMessages = 1000
	// MaxHandoverFrame is the most bytes of one HandoverChunk: 1,000
	// usual messages of ~110 bytes fit with room to spare. The sender
	// closes a chunk before it would pass this, so a chunk holds at least
	// one message of the longest text (MaxChatText) with its fields.
	MaxHandoverFrame = 512 << 10
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
