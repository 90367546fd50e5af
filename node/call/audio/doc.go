// Package audio is the sound of a voice call: the Opus codec, the sources
// and sinks of 20 ms frames (a microphone, a speaker, a file) and the
// small signal helpers that tests and the level meter need. Package call
// moves the packets; this package makes and plays them. It imports only
// node/wire of ours, so it stays a leaf of the call feature.
//
// # Frames
//
// Everything here speaks one format, wire's: 48 kHz, mono, 16-bit signed
// samples, frames of wire.CallFrameSamples (960, 20 ms). 48 kHz is Opus's
// native rate (no resampler between codec and wire); mono because a voice
// call has one mouth per side; int16 because that is what microphones,
// WAV files and libopus's fixed-point API share, so no frame is converted
// twice.
//
// # Codec
//
// Encoder and Decoder wrap libopus (cgo) rather than a pure-Go port: it is
// the reference implementation, it is what every distribution packages,
// and it has the in-band FEC and concealment a lossy path needs. The
// encoder is set for speech over a lossy network: the VOIP application
// (speech-tuned SILK at these rates), 28 kbit/s (wideband speech with room
// for the FEC copy; above ~32 kbit/s speech gains little), in-band FEC on
// with 5 % expected loss until the call reports what it measures
// (SetPacketLoss), and DTX off — silence still sends a small packet each
// 20 ms, so the receiver's jitter buffer sees a steady clock and a lost
// packet is told from a pause. The decoder has three ways to fill a
// frame: Decode (the packet arrived), DecodeFEC (it was lost, but the next
// one arrived and carries a low-rate copy of it) and Conceal (nothing
// arrived: libopus extrapolates the last audio, fading out).
//
// The module is built with the build tag nolibopusfile (set in the
// Makefile's TAGS) so that it needs libopus only, not libopusfile: a call
// never reads .opus files.
//
// # Devices
//
// Microphones and speakers go through malgo (miniaudio), which loads
// PulseAudio or ALSA at run time: the binary links no sound library and
// runs where there is none. miniaudio converts the device's own format,
// channels and rate to ours, so a Source always yields 960 mono samples at
// 48 kHz. Where no real backend has a device, or the one asked for fails
// to open (a server, CI, a machine whose ALSA lists "default" but has no
// card), Devices, OpenCapture and OpenPlayback fall back to miniaudio's
// null backend — capture gives silence at real-time pace, playback
// discards — so a call can still be opened and tested; only when even that
// fails do they return an error wrapping ErrNoDevice. Each open device
// owns its own miniaudio context, made at open and freed at Close: no
// global state to race on, and nothing (no goroutine, no audio thread)
// outlives Close. The devices' callbacks run on miniaudio's thread and
// only move samples through a bounded queue under a mutex: capture keeps
// at most 200 ms (the oldest frames are dropped if the call falls behind),
// playback likewise, so delay can never build up — a late frame is
// dropped, never waited for (DESIGN.md §6).
//
// # Files
//
// OpenFileSource plays a WAV (16-bit PCM, any channel count downmixed,
// any rate resampled linearly to 48 kHz) or raw 48 kHz mono s16le PCM
// (.pcm, .raw) as if it were a microphone: one frame each 20 ms by the
// clock, then silence forever, never io.EOF — a call does not end because
// its test input did. The file is read whole at open (at most
// MaxFileSeconds of audio), so a bad file fails at open, not mid-call.
// CreateFileSink writes what a call plays to a WAV (or raw) file, its
// header's sizes fixed up at Close.
//
// # Measuring
//
// Tone, DominantFrequency, Envelope, Level and Scale exist so that tests
// and benchmarks of calls can check what came out of the far end. A 20 ms
// frame holds only a few periods of a low tone, so an FFT's 50 Hz bins
// cannot tell 440 from 445 Hz; DominantFrequency evaluates the
// Hann-windowed spectrum directly (a DFT at one frequency) on a 5 Hz grid
// and then refines around the peak to 0.05 Hz, which is accurate to well
// under 1 Hz for a clean tone from 150 Hz up on a single frame (below,
// fewer than three periods fit in 20 ms and the spectrum's mirror image
// pulls the peak by a few hertz: pass several frames).
package audio
