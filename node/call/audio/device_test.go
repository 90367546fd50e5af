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

// TestDeviceQueues drives the callbacks' side of the queues directly: a
// reader or a device that falls behind loses the oldest audio, whole
// frames at a time, and never holds more than 200 ms.
func TestDeviceQueues(t *testing.T) {
	le := func(pcm []int16) []byte {
		b := make([]byte, 0, 2*len(pcm))
		for _, v := range pcm {
			b = append(b, byte(v), byte(uint16(v)>>8))
		}
		return b
	}
	// Capture: 15 frames captured, frame i holding the value i; nobody
	// reads. The queue keeps the newest 10, whole.
	d := &device{frames: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range 15 {
		f := make([]int16, wire.CallFrameSamples)
		for j := range f {
			f[j] = int16(i)
		}
		// In two callbacks of 10 ms, as the device delivers them.
		d.captured(le(f[:480]))
		d.captured(le(f[480:]))
	}
	c := capture{d}
	buf := make([]int16, wire.CallFrameSamples)
	for want := 5; want < 15; want++ {
		if err := c.Read(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
		if buf[0] != int16(want) || buf[len(buf)-1] != int16(want) {
			t.Fatalf("frame %d..%d read, want all %d", buf[0], buf[len(buf)-1], want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.Read(ctx, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read of an empty queue = %v, want to wait for ctx", err)
	}

	// Playback: 3 samples queued, a callback of 5 gets them and silence.
	p := playback{&device{}}
	if err := p.Write([]int16{1, -2, 3}); err != nil {
		t.Fatal(err)
	}
	out := []byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
	p.play(out)
	if want := le([]int16{1, -2, 3, 0, 0}); string(out) != string(want) {
		t.Errorf("played %v, want %v", out, want)
	}
	if p.Queued() != 0 {
		t.Errorf("%d samples left", p.Queued())
	}
}
