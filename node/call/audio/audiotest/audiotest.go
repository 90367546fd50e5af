// Package audiotest checks what a call's far side heard, for the tests of
// calls in the node and in the CLI.
package audiotest

import (
	"path/filepath"
	"testing"

	"eserver/node/call/audio"
	"eserver/node/wire"
)

// HeardTone checks that the WAV at path holds a tone of freq Hz: at least
// minFrames of its 20 ms frames have sound in them (peak level ≥ 0.2;
// the silence before the call's audio came and after it does not count),
// and at least 95 % of those are within 3 Hz of freq.
func HeardTone(t testing.TB, path string, freq float64, minFrames int) {
	t.Helper()
	pcm, err := audio.ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	voiced, right := audio.ToneFrames(pcm, freq, 3, 0.2)
	if voiced < minFrames || right*100 < voiced*95 {
		t.Fatalf("%s: %d of %d frames with sound at %v Hz (of %d), want at least %d with sound, 95 %% at the tone",
			path, right, voiced, freq, len(pcm)/wire.CallFrameSamples, minFrames)
	}
	t.Logf("%s: %d of %d frames with sound at %v Hz", filepath.Base(path), right, voiced, freq)
}
