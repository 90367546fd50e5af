package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"eserver/node/wire"
)

// ErrBadWAV: a file that is not a WAV this package reads (RIFF/WAVE with
// 16-bit integer PCM), or whose header is cut short.
var ErrBadWAV = errors.New("audio: not a 16-bit PCM WAV file")

// Limits of the files this package reads.
const (
	// MaxFileSeconds is the most audio a file may hold: a file is read
	// whole, and ten minutes of 48 kHz stereo is 110 MiB.
	MaxFileSeconds = 600
	// maxChannels is the most channels a WAV may have (7.1).
	maxChannels = 8
	// minRate and maxRate bound the sample rates resampled to 48 kHz.
	minRate, maxRate = 8000, 192000
	// maxChunks bounds the chunks skipped before "data", so a file of
	// empty chunks is refused rather than walked.
	maxChunks = 64
)

// WAV format tags.
const (
	wavPCM        = 1
	wavExtensible = 0xFFFE
)

// wavFormat is what a WAV's "fmt " chunk says about its samples.
type wavFormat struct {
	channels int
	rate     int
}

// readWAVHeader reads a WAV's header from r up to the start of its
// samples and returns their format and the data chunk's length in bytes
// (-1 if the header does not know it: a file written by a recorder that
// never fixed its sizes up). It refuses anything but 16-bit integer PCM
// with 1–8 channels at 8–192 kHz.
func readWAVHeader(r io.Reader) (wavFormat, int64, error) {
	var f wavFormat
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return f, 0, fmt.Errorf("%w: reading the RIFF header: %w", ErrBadWAV, err)
	}
	if string(riff[:4]) != "RIFF" || string(riff[8:]) != "WAVE" {
		return f, 0, fmt.Errorf("%w: no RIFF/WAVE signature", ErrBadWAV)
	}
	haveFmt := false
	for range maxChunks {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if !haveFmt {
				return f, 0, fmt.Errorf("%w: no fmt chunk: %w", ErrBadWAV, err)
			}
			return f, 0, fmt.Errorf("%w: no data chunk: %w", ErrBadWAV, err)
		}
		id, size := string(ch[:4]), int64(binary.LittleEndian.Uint32(ch[4:]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return f, 0, fmt.Errorf("%w: a fmt chunk of %d bytes", ErrBadWAV, size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, b); err != nil {
				return f, 0, fmt.Errorf("%w: reading the fmt chunk: %w", ErrBadWAV, err)
			}
			tag := binary.LittleEndian.Uint16(b)
			if tag == wavExtensible {
				// The real format is the first two bytes of the
				// sub-format GUID, after cbSize, valid bits and the
				// channel mask.
				if size < 40 {
					return f, 0, fmt.Errorf("%w: an extensible fmt chunk of %d bytes", ErrBadWAV, size)
				}
				tag = binary.LittleEndian.Uint16(b[24:])
			}
			if tag != wavPCM {
				return f, 0, fmt.Errorf("%w: format tag %#x (only integer PCM is read)", ErrBadWAV, tag)
			}
			f.channels = int(binary.LittleEndian.Uint16(b[2:]))
			f.rate = int(binary.LittleEndian.Uint32(b[4:]))
			bits := binary.LittleEndian.Uint16(b[14:])
			if bits != 16 {
				return f, 0, fmt.Errorf("%w: %d bits a sample (only 16 is read)", ErrBadWAV, bits)
			}
			if f.channels < 1 || f.channels > maxChannels {
				return f, 0, fmt.Errorf("%w: %d channels, want 1–%d", ErrBadWAV, f.channels, maxChannels)
			}
			if f.rate < minRate || f.rate > maxRate {
				return f, 0, fmt.Errorf("%w: a sample rate of %d Hz, want %d–%d", ErrBadWAV, f.rate, minRate, maxRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return f, 0, fmt.Errorf("%w: data before the fmt chunk", ErrBadWAV)
			}
			if size == 0 || size == 0xFFFFFFFF {
				return f, -1, nil
			}
			return f, size, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				return f, 0, fmt.Errorf("%w: skipping a %q chunk: %w", ErrBadWAV, id, err)
			}
		}
	}
	return f, 0, fmt.Errorf("%w: no data chunk in the first %d chunks", ErrBadWAV, maxChunks)
}

// decodeWAV reads a whole WAV from r as 48 kHz mono: channels are
// averaged, other rates resampled linearly. A data chunk longer than the
// file (cut short, or sizes never fixed up) gives the samples there are.
func decodeWAV(r io.Reader) ([]int16, error) {
	f, size, err := readWAVHeader(r)
	if err != nil {
		return nil, err
	}
	limit := int64(MaxFileSeconds) * int64(f.rate) * int64(f.channels) * 2
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes of samples, more than %d s", ErrBadWAV, size, MaxFileSeconds)
	}
	if size < 0 {
		size = limit
	}
	// Read what is there, growing as bytes arrive: the header's size is
	// a claim, not an allocation.
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return nil, fmt.Errorf("audio: reading samples: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d s of samples", ErrBadWAV, MaxFileSeconds)
	}
	data = data[:min(int64(len(data)), size)]
	frames := len(data) / (2 * f.channels)
	mono := make([]int16, frames)
	for i := range mono {
		sum := 0
		for c := range f.channels {
			sum += int(int16(binary.LittleEndian.Uint16(data[2*(i*f.channels+c):])))
		}
		mono[i] = int16(sum / f.channels)
	}
	return resample(mono, f.rate), nil
}

// resample converts pcm from rate to wire.CallSampleRate by linear
// interpolation. Without a low-pass filter, downsampling aliases what lies
// above 24 kHz — inaudible in speech, and Opus drops it anyway.
func resample(pcm []int16, rate int) []int16 {
	if rate == wire.CallSampleRate || len(pcm) == 0 {
		return pcm
	}
	n := int(int64(len(pcm)) * wire.CallSampleRate / int64(rate))
	out := make([]int16, n)
	step := float64(rate) / wire.CallSampleRate
	for i := range out {
		pos := float64(i) * step
		j := int(pos)
		frac := pos - float64(j)
		a := float64(pcm[j])
		b := a
		if j+1 < len(pcm) {
			b = float64(pcm[j+1])
		}
		out[i] = clip(a + (b-a)*frac)
	}
	return out
}

// isRaw tells whether path names raw 48 kHz mono s16le samples rather
// than a WAV.
func isRaw(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".pcm") || strings.HasSuffix(p, ".raw")
}

// readAudioFile reads a WAV or raw file (by isRaw) as 48 kHz mono.
func readAudioFile(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	if !isRaw(path) {
		pcm, err := decodeWAV(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return pcm, nil
	}
	limit := int64(MaxFileSeconds) * wire.CallSampleRate * 2
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("audio: reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("audio: %s holds more than %d s of audio", path, MaxFileSeconds)
	}
	pcm := make([]int16, len(data)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return pcm, nil
}

// ReadWAV reads a WAV file as 48 kHz mono 16-bit samples (stereo and
// other channel counts downmixed, other rates resampled linearly).
func ReadWAV(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	defer f.Close()
	pcm, err := decodeWAV(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, nil
}

// WriteWAV writes pcm as a 48 kHz mono 16-bit WAV file.
func WriteWAV(path string, pcm []int16) error {
	s, err := createSink(path, false)
	if err != nil {
		return err
	}
	if err := s.Write(pcm); err != nil {
		s.f.Close()
		return err
	}
	return s.Close()
}

// wavHeader returns the 44-byte header of a 48 kHz mono 16-bit WAV whose
// samples take dataBytes.
func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, 36+dataBytes)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, wavPCM)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint32(h, wire.CallSampleRate)
	h = binary.LittleEndian.AppendUint32(h, wire.CallSampleRate*2)
	h = binary.LittleEndian.AppendUint16(h, 2)
	h = binary.LittleEndian.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, dataBytes)
	return h
}
