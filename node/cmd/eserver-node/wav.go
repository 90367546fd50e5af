package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// How long a call's input file plays, so that `call` and `answer` can hang
// up once it has been said. The node reads the file itself
// (api.CallAudio.InFile); this only reads its header.

// rawPCMRate is the byte rate of a raw input file (*.pcm, *.raw): 48 kHz
// mono 16-bit little-endian, as api.CallAudio says.
const rawPCMRate = 48000 * 2

// maxWAVChunks bounds the chunks read before "data": a header is a few
// chunks; a file of thousands of empty ones is not a sound file.
const maxWAVChunks = 64

// The widest WAV format taken: more is no sound file, and would overflow
// the arithmetic of bytesDuration.
const (
	maxWAVChannels = 16
	maxWAVRate     = 768000
)

// errNotWAV: the file is neither a WAV file nor named as raw PCM.
var errNotWAV = errors.New("not a WAV file (nor raw PCM named *.pcm or *.raw)")

// audioLength is how long the sound in the file at path plays.
func audioLength(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file", path)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pcm", ".raw":
		return bytesDuration(st.Size(), rawPCMRate), nil
	}
	d, err := wavLength(f, st.Size())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// wavLength reads a RIFF/WAVE header from r (size bytes) and returns how
// long its data chunk plays: the data's bytes over the format's byte rate.
// A data chunk claiming more than the file holds (a recording cut short,
// or a streamed header's 0xFFFFFFFF) plays what the file holds.
func wavLength(r io.ReaderAt, size int64) (time.Duration, error) {
	var hdr [12]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil || string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, errNotWAV
	}
	var byteRate int64
	off := int64(12)
	for range maxWAVChunks {
		var ch [8]byte
		if _, err := r.ReadAt(ch[:], off); err != nil {
			return 0, errors.New("WAV file without a data chunk")
		}
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		off += 8
		switch id {
		case "fmt ":
			if n < 16 {
				return 0, fmt.Errorf("WAV format chunk of %d bytes, want 16 or more", n)
			}
			var fmtc [16]byte
			if _, err := r.ReadAt(fmtc[:], off); err != nil {
				return 0, errors.New("WAV format chunk cut short")
			}
			channels := binary.LittleEndian.Uint16(fmtc[2:4])
			rate := binary.LittleEndian.Uint32(fmtc[4:8])
			bits := binary.LittleEndian.Uint16(fmtc[14:16])
			if channels == 0 || channels > maxWAVChannels || rate == 0 || rate > maxWAVRate || bits == 0 || bits > 64 || bits%8 != 0 {
				return 0, fmt.Errorf("WAV format of %d channels, %d Hz, %d bits: not a sound", channels, rate, bits)
			}
			// Computed, not read: a header's byteRate field may lie.
			byteRate = int64(channels) * int64(rate) * int64(bits/8)
		case "data":
			if byteRate == 0 {
				return 0, errors.New("WAV data before its format chunk")
			}
			return bytesDuration(min(n, max(size-off, 0)), byteRate), nil
		}
		off += n + n%2 // chunks are padded to an even size
	}
	return 0, fmt.Errorf("WAV file without a data chunk in its first %d chunks", maxWAVChunks)
}

// bytesDuration is how long n bytes play at rate bytes a second.
func bytesDuration(n, rate int64) time.Duration {
	sec := n / rate
	rest := n % rate
	return time.Duration(sec)*time.Second + time.Duration(rest*int64(time.Second)/rate)
}
