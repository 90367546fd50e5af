package audio

import (
	"errors"
	"fmt"

	"gopkg.in/hraban/opus.v2"

	"eserver/node/wire"
)

// Errors callers branch on.
var (
	// ErrFrameSize: a frame that is not wire.CallFrameSamples samples, or
	// a packet that does not decode to one.
	ErrFrameSize = errors.New("audio: frame is not 20 ms")
	// ErrBadPacket: a packet that is empty, too long or not Opus.
	ErrBadPacket = errors.New("audio: bad Opus packet")
)

// The encoder's settings (the package doc says why).
const (
	// Bitrate is the encoder's target, in bits a second.
	Bitrate = 28000
	// DefaultPacketLoss is the loss, in percent, the encoder expects
	// until the call measures it.
	DefaultPacketLoss = 5
)

// Encoder turns 20 ms frames into Opus packets. Not safe for concurrent
// use: a call has one sending loop.
type Encoder struct {
	enc *opus.Encoder
}

// NewEncoder returns an encoder for 48 kHz mono speech: VOIP application,
// Bitrate, in-band FEC on with DefaultPacketLoss, DTX off.
func NewEncoder() (*Encoder, error) {
	enc, err := opus.NewEncoder(wire.CallSampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("audio: new encoder: %w", err)
	}
	for _, set := range []struct {
		what string
		err  error
	}{
		{"bitrate", enc.SetBitrate(Bitrate)},
		{"in-band FEC", enc.SetInBandFEC(true)},
		{"packet loss", enc.SetPacketLossPerc(DefaultPacketLoss)},
		{"DTX", enc.SetDTX(false)},
	} {
		if set.err != nil {
			return nil, fmt.Errorf("audio: new encoder: setting %s: %w", set.what, set.err)
		}
	}
	return &Encoder{enc: enc}, nil
}

// SetPacketLoss tells the encoder the loss the call measures, in percent
// (0–100), so that the FEC it adds fits the path: more loss, a stronger
// copy of each frame in the next packet.
func (e *Encoder) SetPacketLoss(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("audio: packet loss %d%%, want 0–100", percent)
	}
	if err := e.enc.SetPacketLossPerc(percent); err != nil {
		return fmt.Errorf("audio: setting packet loss: %w", err)
	}
	return nil
}

// Encode encodes one frame (exactly wire.CallFrameSamples samples) into
// dst's backing array and returns dst[:n]. dst should have a capacity of
// wire.MaxCallPacket; the packet never exceeds that.
func (e *Encoder) Encode(pcm []int16, dst []byte) ([]byte, error) {
	if len(pcm) != wire.CallFrameSamples {
		return nil, fmt.Errorf("%w: encoding %d samples, want %d", ErrFrameSize, len(pcm), wire.CallFrameSamples)
	}
	// libopus writes up to cap(buf): never more than a packet may hold.
	room := min(cap(dst), wire.MaxCallPacket)
	if room == 0 {
		return nil, errors.New("audio: encoding into a buffer of no capacity")
	}
	buf := dst[:room:room]
	n, err := e.enc.Encode(pcm, buf)
	if err != nil {
		return nil, fmt.Errorf("audio: encoding: %w", err)
	}
	return dst[:n], nil
}

// Decoder turns Opus packets back into 20 ms frames, and fills the frames
// of lost packets. Not safe for concurrent use: a call has one playing
// loop.
type Decoder struct {
	dec *opus.Decoder
}

// NewDecoder returns a decoder for 48 kHz mono.
func NewDecoder() (*Decoder, error) {
	dec, err := opus.NewDecoder(wire.CallSampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("audio: new decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// frame returns pcm limited to one frame's capacity: libopus decodes as
// many samples as the buffer's capacity holds, and the FEC and
// concealment paths take the capacity as the missing duration.
func frame(pcm []int16) ([]int16, error) {
	if len(pcm) != wire.CallFrameSamples {
		return nil, fmt.Errorf("%w: a buffer of %d samples, want %d", ErrFrameSize, len(pcm), wire.CallFrameSamples)
	}
	return pcm[:wire.CallFrameSamples:wire.CallFrameSamples], nil
}

func checkPacket(packet []byte) error {
	if len(packet) == 0 || len(packet) > wire.MaxCallPacket {
		return fmt.Errorf("%w: %d bytes, want 1–%d", ErrBadPacket, len(packet), wire.MaxCallPacket)
	}
	return nil
}

// Decode decodes packet into pcm (wire.CallFrameSamples long). A packet
// that is not Opus, or not of 20 ms, is an error wrapping ErrBadPacket or
// ErrFrameSize; the decoder stays usable.
func (d *Decoder) Decode(packet []byte, pcm []int16) error {
	out, err := frame(pcm)
	if err != nil {
		return err
	}
	if err := checkPacket(packet); err != nil {
		return err
	}
	n, err := d.dec.Decode(packet, out)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadPacket, err)
	}
	if n != wire.CallFrameSamples {
		return fmt.Errorf("%w: the packet decoded to %d samples", ErrFrameSize, n)
	}
	return nil
}

// DecodeFEC fills pcm with the frame that was lost just before next,
// from the low-rate copy of it that next carries (in-band FEC). Call it
// before Decode(next). Where next carries no copy, libopus conceals
// instead, so pcm is always a usable frame.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) error {
	out, err := frame(pcm)
	if err != nil {
		return err
	}
	if err := checkPacket(next); err != nil {
		return err
	}
	if err := d.dec.DecodeFEC(next, out); err != nil {
		return fmt.Errorf("%w: recovering from FEC: %w", ErrBadPacket, err)
	}
	return nil
}

// Conceal fills pcm with a guess at a lost frame when no later packet is
// at hand: libopus continues the last audio and fades it out over
// repeated losses.
func (d *Decoder) Conceal(pcm []int16) error {
	out, err := frame(pcm)
	if err != nil {
		return err
	}
	if err := d.dec.DecodePLC(out); err != nil {
		return fmt.Errorf("audio: concealing a lost frame: %w", err)
	}
	return nil
}
