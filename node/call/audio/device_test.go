package audio

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"eserver/node/wire"
)

// TestDevices opens the default microphone and speaker — on a machine
// without sound hardware, miniaudio's null backend — reads and writes a
// frame, closes them, and checks that nothing of theirs keeps running.
func TestDevices(t *testing.T) {
	devs, err := Devices()
	if errors.Is(err, ErrNoDevice) {
		t.Skipf("miniaudio cannot open even its null backend here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var in, out bool
	for _, d := range devs {
		t.Logf("device %+v", d)
		in = in || d.Input
		out = out || !d.Input
	}
	if !in || !out {
		t.Fatalf("Devices lists input %v, output %v; want both (the null backend has both)", in, out)
	}
	before := runtime.NumGoroutine()

	for _, id := range []string{"", devs[0].ID} {
		src, err := OpenCapture(id)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		buf := make([]int16, wire.CallFrameSamples)
		for range 3 {
			if err := src.Read(ctx, buf); err != nil {
				t.Fatalf("capture %q: %v", id, err)
			}
		}
		cancel()
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
		if err := src.Read(context.Background(), buf); !errors.Is(err, ErrClosed) {
			t.Errorf("Read after Close = %v, want ErrClosed", err)
		}
	}

	var outID string
	for _, d := range devs {
		if !d.Input {
			outID = d.ID
		}
	}
	for _, id := range []string{"", outID} {
		sink, err := OpenPlayback(id)
		if err != nil {
			t.Fatal(err)
		}
		tone := Tone(440, 0.3, 30)
		for _, f := range frames(tone) {
			if err := sink.Write(f); err != nil {
				t.Fatal(err)
			}
		}
		// 600 ms written at once: the queue keeps at most 200 ms.
		if q := sink.(playback).Queued(); q > queueFrames*wire.CallFrameSamples {
			t.Errorf("%d samples queued, want ≤ %d", q, queueFrames*wire.CallFrameSamples)
		}
		// The device drains the queue as it plays.
		deadline := time.Now().Add(5 * time.Second)
		for sink.(playback).Queued() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if q := sink.(playback).Queued(); q > 0 {
			t.Errorf("the device did not drain its queue: %d samples left", q)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sink.Write(tone[:10]); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close = %v, want ErrClosed", err)
		}
	}

	if _, err := OpenCapture("00ff00ff"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("OpenCapture(unknown) = %v, want ErrNoDevice", err)
	}
	// Nothing of the devices outlives Close.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before opening, %d after closing:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
