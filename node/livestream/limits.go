package livestream

import (
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

//go:generate protoc --go_out=. --go_opt=paths=source_relative livestream.proto

// ProtocolID is the libp2p protocol of live streams.
const ProtocolID protocol.ID = "/eserver/livestream/1.0.0"

// version is the Header.version this package speaks.
const version = 1

// Sizes.
const (
	KeySize    = 32  // the caller's stream key
	IDSize     = 16  // stream id, random, chosen by the opener
	MaxLabel   = 256 // UTF-8 bytes of a label
	NonceSize  = 16  // the receiver's contribution to the data key
	ConfirmLen = 32  // HMAC-SHA256 key confirmation

	// MaxHeader and MaxResponse bound the two handshake messages; a label
	// of MaxLabel plus the fixed fields and protobuf tags fits with room.
	MaxHeader   = 512
	MaxResponse = 128

	// MaxPayload is the most plaintext one data frame carries. Writes are
	// coalesced up to it and split at it. Measured on loopback (2 cores):
	// 64 KiB frames moved 393 MB/s, 256 KiB 506–611 MB/s against a bare
	// stream's ~770 MB/s — fewer, larger writes through yamux. The cost is
	// one such buffer per sender and at most one per receiver; live audio
	// never fills it (FlushDelay sends first).
	MaxPayload = 256 << 10
	// MaxFrame is the largest frame body (type byte + ciphertext + tag); a
	// longer length prefix is refused before anything is allocated.
	MaxFrame = 1 + MaxPayload + tagSize
)

// Timing.
const (
	// HandshakeTimeout bounds Open and the receiver's reading of a header.
	HandshakeTimeout = 10 * time.Second
	// FlushDelay is how long a small write may wait to be coalesced with the
	// next ones: short enough for live audio (a 20 ms packet interval), long
	// enough to turn 100-byte writes into few frames.
	FlushDelay = 10 * time.Millisecond
	// KeepaliveInterval: an idle sender sends an empty data frame this
	// often, so a receiver can tell a quiet stream from a dead peer.
	KeepaliveInterval = 15 * time.Second
	// IdleTimeout: a receiver that gets no frame for this long fails with
	// ErrIdle (four missed keepalives).
	IdleTimeout = 4 * KeepaliveInterval
	// StallTimeout: a frame the receiver leaves unread (the transport's
	// window stays full) for this long fails the sender's Write with
	// ErrStalled. Until then Write blocks: that is the back-pressure.
	StallTimeout = 1 * time.Minute
)

// DefaultBacklog is Listener.Backlog's zero value: accepted streams waiting
// for Accept; more are answered "busy".
const DefaultBacklog = 16

// Reset codes sent with network.Stream.ResetWithError, so the other side can
// say why a stream ended instead of a bare "stream reset".
const (
	// CodeReceiverClosed: the receiver closed before the end frame; the
	// sender's Write fails with ErrReceiverClosed.
	CodeReceiverClosed network.StreamErrorCode = 0x4c530001
	// CodeSenderAborted: the sender called Abort; the receiver's Read fails
	// with ErrAborted.
	CodeSenderAborted network.StreamErrorCode = 0x4c530002
	// CodeBadFrame: the receiver got a frame that did not authenticate or
	// was malformed; the sender's Write fails with ErrRejected.
	CodeBadFrame network.StreamErrorCode = 0x4c530003
	// CodeListenerClosed: the Listener closed before the stream was accepted.
	CodeListenerClosed network.StreamErrorCode = 0x4c530004
)
