package wire

import "time"

// Voice calls (node/call): the audio frames of a call between two
// contacts' devices, each one Opus packet sealed under the call's key.
const (
	// CallFrameDuration is the audio in one frame: Opus at 48 kHz in
	// 20 ms frames, the common choice for voice (fewer packets than 10 ms,
	// less delay and loss per packet than 40 ms).
	CallFrameDuration = 20 * time.Millisecond
	// CallSampleRate is the audio's sample rate, in samples a second.
	CallSampleRate = 48000
	// CallFrameSamples is the samples of one frame, per channel.
	CallFrameSamples = CallSampleRate / int(time.Second/CallFrameDuration)

	// MaxCallPacket is the most bytes of one frame's Opus packet: the
	// format's own limit for a single frame (RFC 6716 §3.2.1: 1,275).
	MaxCallPacket = 1275
	// CallFrameHeader is the bytes before a frame's sealed packet: its
	// sequence number (4) and media timestamp in samples (4).
	CallFrameHeader = 8
	// CallKeySize is the size of a call's secret and of each direction's
	// key.
	CallKeySize = 32
	// MaxCallFrame is the most bytes of one sealed frame on the wire: the
	// header, the packet and the AEAD's tag (16).
	MaxCallFrame = CallFrameHeader + MaxCallPacket + 16
)

// Call signalling (wire.Call payloads) and the audio stream.
const (
	// CallProtocol carries one call's audio frames both ways, opened by the
	// device that answered to the caller's device.
	CallProtocol = "/eserver/call/1.0.0"
	// CallIDSize is the bytes of a call's ID.
	CallIDSize = 16
	// CallLanes is how many streams a call's audio takes, frame s on
	// lane s mod CallLanes, each opened with the call's ID and its lane
	// (one byte): over QUIC a lost packet stalls only its own stream, so
	// it holds back one frame in CallLanes rather than every frame behind
	// it, and the next frame, on another lane, brings its FEC in time.
	CallLanes = 3
	// MaxCallReason bounds a hang-up's reason.
	MaxCallReason = 64
	// CallOfferTTL: an offer older than this (by its sender's clock) rings
	// nothing — it was delayed past any caller's patience.
	CallOfferTTL = 45 * time.Second
	// CallOpenTimeout bounds opening the audio stream and its hello.
	CallOpenTimeout = 10 * time.Second
	// CallWriteTimeout: a frame the connection cannot take within this is
	// dropped (a late frame is worth nothing), not waited for.
	CallWriteTimeout = 100 * time.Millisecond
)
