package node

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/call/audio"
	"eserver/node/wire"
)

// envelopeWindow is 20 ms of audio: one call frame, and about a syllable's
// smallest feature.
const envelopeWindow = wire.CallFrameSamples

// alignEnvelopes finds where sent's envelope lies in heard's (heard starts
// later: the call's way and its jitter buffer) and returns the lag, in
// windows, and the Pearson correlation there. Windows of sent that fall
// past heard's end count as silence heard.
func alignEnvelopes(sent, heard []float64) (lag int, corr float64) {
	corr = math.Inf(-1)
	for l := 0; l < len(heard); l++ {
		h := make([]float64, len(sent))
		copy(h, heard[l:])
		if c := pearson(sent, h); c > corr {
			lag, corr = l, c
		}
	}
	return lag, corr
}

// pearson is the correlation coefficient of a and b (of one length): 1
// when one is the other scaled and shifted, whatever the gain.
func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// voicedWindows counts the windows of env louder than threshold: how long
// the speech lasts, pauses left out.
func voicedWindows(env []float64, threshold float64) int {
	n := 0
	for _, v := range env {
		if v > threshold {
			n++
		}
	}
	return n
}

// TestCallPhrase: alice says a phrase (testdata/phrase.wav, synthesized
// speech) and bob records the call. Speech is not a tone: Opus keeps its
// shape, not its waveform, so what is compared is the loudness envelope in
// 20 ms windows. Aligned by cross-correlation, heard and sent envelopes
// correlate closely, and the heard speech lasts as long as the sent
// (within 10 %): no syllable lost, none stretched or doubled.
func TestCallPhrase(t *testing.T) {
	phrase, err := filepath.Abs(filepath.Join("testdata", "phrase.wav"))
	if err != nil {
		t.Fatal(err)
	}
	sent, err := audio.ReadWAV(phrase)
	if err != nil {
		t.Fatal(err)
	}
	length := time.Duration(len(sent)) * time.Second / wire.CallSampleRate
	if length < 2*time.Second {
		t.Fatalf("the phrase lasts %v", length)
	}

	server := testServer(t)
	alice, bob := friends(t, server)
	heardAt := filepath.Join(t.TempDir(), "heard.wav")
	aliceAudio := api.CallAudio{InFile: phrase, OutFile: filepath.Join(t.TempDir(), "alice-heard.wav")}
	bobAudio := callFiles(t, 660, 100*time.Millisecond)
	bobAudio.OutFile = heardAt

	id, err := alice.Call(ctx(t), "bob", aliceAudio)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitFor("the incoming call", func(e api.Event) bool { return e.CallIncoming != nil && e.CallIncoming.ID == id })
	if err := bob.AnswerCall(ctx(t), id, bobAudio); err != nil {
		t.Fatal(err)
	}
	alice.callState(id, api.CallActive, "")
	// The phrase, its way across and the jitter buffer, and a margin.
	time.Sleep(length + time.Second)
	if err := alice.HangUp(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	bob.callState(id, api.CallEnded, api.CallReasonTheyHung)

	heard, err := audio.ReadWAV(heardAt)
	if err != nil {
		t.Fatal(err)
	}
	se, he := audio.Envelope(sent, envelopeWindow), audio.Envelope(heard, envelopeWindow)
	lag, corr := alignEnvelopes(se, he)
	// Speech is "on" above a tenth of the phrase's loudest window: the
	// same absolute bound on both sides (the call does not change the
	// volume).
	threshold := 0.1 * sliceMax(se)
	sv := voicedWindows(se, threshold)
	hv := voicedWindows(he[lag:min(lag+len(se), len(he))], threshold)
	t.Logf("sent %d windows (%d voiced), heard %d; aligned %v late, correlation %.3f, heard %d voiced",
		len(se), sv, len(he), time.Duration(lag)*wire.CallFrameDuration, corr, hv)
	// Measured here: 0.975, and 103 voiced windows heard of 108 sent
	// (the quietest edges of words). Opus at voice bitrates smooths the
	// envelope a little; a lost or displaced syllable costs far more.
	if corr < 0.9 {
		t.Errorf("the heard envelope correlates %.3f with the sent one, want at least 0.9", corr)
	}
	if math.Abs(float64(hv-sv)) > 0.1*float64(sv) {
		t.Errorf("heard speech lasts %d windows, sent %d: want within 10 %%", hv, sv)
	}
}

func sliceMax(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
