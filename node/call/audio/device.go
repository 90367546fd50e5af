package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/gen2brain/malgo"

	"eserver/node/wire"
)

// ErrNoDevice: no sound device could be opened, not even miniaudio's null
// backend; or the device asked for is not there.
var ErrNoDevice = errors.New("audio: no sound device")

// Device is a microphone or speaker, as Devices lists it.
type Device struct {
	// ID is what to pass to OpenCapture or OpenPlayback: the hex of
	// miniaudio's device ID (trailing zero bytes dropped), stable while
	// the device stays plugged in.
	ID string
	// Name is what the system calls the device, for a settings list.
	Name string
	// Input is set for microphones, unset for speakers.
	Input bool
	// Default is set for the system's default device of its kind.
	Default bool
	// Null is set when the device is miniaudio's null backend: no sound
	// hardware was found, and this one captures silence or plays
	// nothing.
	Null bool
}

// queueFrames bounds the frames a device queues: 200 ms. A call that
// falls further behind loses the oldest audio rather than gaining delay.
const queueFrames = 10

// audioContext is an initialised miniaudio context, and whether it is the
// null backend's.
type audioContext struct {
	ctx  *malgo.AllocatedContext
	null bool
}

func (c *audioContext) free() {
	_ = c.ctx.Uninit()
	c.ctx.Free()
}

// openContext returns a context whose backend has a device of kind, and
// those devices: the platform's real backends (PulseAudio, ALSA, …,
// loaded at run time) when null is unset, else the null backend.
func openContext(kind malgo.DeviceType, null bool) (*audioContext, []malgo.DeviceInfo, error) {
	ctx, err := initContext(realBackends())
	if null {
		ctx, err = initContext(nullBackends)
	}
	if err != nil {
		return nil, nil, err
	}
	infos, err := ctx.Devices(kind)
	if err == nil && len(infos) == 0 {
		err = errors.New("no devices")
	}
	if err != nil {
		_ = ctx.Uninit()
		ctx.Free()
		return nil, nil, err
	}
	return &audioContext{ctx: ctx, null: null}, infos, nil
}

// nullBackends are the values to try for miniaudio's null backend.
// malgo v0.11.24's enumeration lacks miniaudio's ma_backend_custom, which
// comes just before ma_backend_null: its BackendNull is miniaudio's
// custom backend ("No backend" here), and the null backend is the next
// value. Should malgo add the missing constant, that next value becomes
// out of range and fails at once, and its BackendNull is tried next.
var nullBackends = []malgo.Backend{malgo.BackendNull + 1, malgo.BackendNull}

// initContext returns a context on the first of backends that
// initialises.
func initContext(backends []malgo.Backend) (*malgo.AllocatedContext, error) {
	var errs []error
	for _, b := range backends {
		ctx, err := malgo.InitContext([]malgo.Backend{b}, malgo.ContextConfig{}, nil)
		if err == nil {
			return ctx, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// anyContext is openContext of the real backends if they have a device,
// else of the null backend.
func anyContext(kind malgo.DeviceType) (*audioContext, []malgo.DeviceInfo, error) {
	c, infos, err := openContext(kind, false)
	if err == nil {
		return c, infos, nil
	}
	c, infos, nerr := openContext(kind, true)
	if nerr != nil {
		return nil, nil, fmt.Errorf("%w: %w; null backend: %w", ErrNoDevice, err, nerr)
	}
	return c, infos, nil
}

// realBackends are the backends tried before the null one: miniaudio's
// own order for the platform, less the null backend (which it would
// otherwise pick silently, hiding that there is no sound hardware).
func realBackends() []malgo.Backend {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
		return []malgo.Backend{malgo.BackendPulseaudio, malgo.BackendAlsa, malgo.BackendJack, malgo.BackendSndio, malgo.BackendAudio4, malgo.BackendOss}
	case "darwin":
		return []malgo.Backend{malgo.BackendCoreaudio}
	case "windows":
		return []malgo.Backend{malgo.BackendWasapi, malgo.BackendDsound, malgo.BackendWinmm}
	}
	return nil
}

// Devices lists the microphones and speakers: those of the real backend
// if it has any, else the null backend's. The error wraps ErrNoDevice
// when there is neither.
func Devices() ([]Device, error) {
	var out []Device
	for _, kind := range []malgo.DeviceType{malgo.Capture, malgo.Playback} {
		c, infos, err := anyContext(kind)
		if err != nil {
			return nil, fmt.Errorf("audio: listing devices: %w", err)
		}
		for _, in := range infos {
			out = append(out, Device{
				ID:      in.ID.String(),
				Name:    in.Name(),
				Input:   kind == malgo.Capture,
				Default: in.IsDefault != 0,
				Null:    c.null,
			})
		}
		c.free()
	}
	return out, nil
}

// device is an open capture or playback device: its context, its
// miniaudio device, and the queue its callback shares with Read or Write.
type device struct {
	c   *audioContext
	dev *malgo.Device

	mu     sync.Mutex
	queue  []int16 // capture: samples captured; playback: samples to play
	frames chan struct{}
	done   chan struct{}
	closed bool
	once   sync.Once
}

// openDevice opens the device named id ("" for the default) of kind,
// with callback as its data callback: on the real backends, else — when
// they have no device, or the default one fails to open (ALSA lists
// "default" on a machine with no card) — on the null backend.
func openDevice(kind malgo.DeviceType, id string, callback func(d *device) malgo.DataProc) (*device, error) {
	what := map[malgo.DeviceType]string{malgo.Capture: "capture", malgo.Playback: "playback"}[kind]
	var errs []error
	for _, null := range []bool{false, true} {
		d, err := openOn(kind, id, null, callback)
		if err == nil {
			return d, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("audio: opening %s %q: %w: %w", what, id, ErrNoDevice, errors.Join(errs...))
}

// openOn opens the device on the real backends or the null one.
func openOn(kind malgo.DeviceType, id string, null bool, callback func(d *device) malgo.DataProc) (*device, error) {
	backend := "real backends"
	if null {
		backend = "null backend"
	}
	c, infos, err := openContext(kind, null)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", backend, err)
	}
	cfg := malgo.DefaultDeviceConfig(kind)
	sub := malgo.SubConfig{Format: malgo.FormatS16, Channels: 1}
	cfg.SampleRate = wire.CallSampleRate
	cfg.PeriodSizeInFrames = uint32(wire.CallFrameSamples / 2) // 10 ms periods
	var pinner runtime.Pinner
	defer pinner.Unpin()
	if id != "" {
		var found *malgo.DeviceID
		for i := range infos {
			if strings.EqualFold(infos[i].ID.String(), id) {
				found = &infos[i].ID
			}
		}
		if found == nil {
			c.free()
			return nil, fmt.Errorf("%s: no such device", backend)
		}
		// miniaudio copies the ID during init; the pin lets cgo pass a
		// Go pointer inside the config for that long.
		pinner.Pin(found)
		sub.DeviceID = unsafe.Pointer(found)
	}
	if kind == malgo.Capture {
		cfg.Capture = sub
	} else {
		cfg.Playback = sub
	}
	d := &device{c: c, frames: make(chan struct{}, 1), done: make(chan struct{})}
	dev, err := malgo.InitDevice(c.ctx.Context, cfg, malgo.DeviceCallbacks{Data: callback(d)})
	if err != nil {
		c.free()
		return nil, fmt.Errorf("%s: %w", backend, err)
	}
	d.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		c.free()
		return nil, fmt.Errorf("%s: starting: %w", backend, err)
	}
	return d, nil
}

// Close stops the device — miniaudio's Uninit waits for its thread, so no
// callback runs after it — and frees its context.
func (d *device) Close() error {
	d.once.Do(func() {
		d.dev.Uninit()
		d.c.free()
		d.mu.Lock()
		d.closed = true
		d.queue = nil
		d.mu.Unlock()
		close(d.done)
	})
	return nil
}

// capture is a microphone as a Source.
type capture struct{ *device }

// OpenCapture opens a microphone ("" for the default, else an ID from
// Devices) as a Source of 20 ms frames; with no sound hardware, the null
// backend's (silence at real-time pace). Frames not read within 200 ms
// are dropped, oldest first.
func OpenCapture(id string) (Source, error) {
	d, err := openDevice(malgo.Capture, id, func(d *device) malgo.DataProc {
		return func(_, in []byte, _ uint32) { d.captured(in) }
	})
	if err != nil {
		return nil, err
	}
	return capture{d}, nil
}

// captured is the capture callback: it queues the samples in (s16le
// mono), keeping at most queueFrames frames, and wakes Read.
func (d *device) captured(in []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for i := 0; i+1 < len(in); i += 2 {
		d.queue = append(d.queue, int16(binary.LittleEndian.Uint16(in[i:])))
	}
	if over := len(d.queue) - queueFrames*wire.CallFrameSamples; over > 0 {
		// Drop whole frames, oldest first, so frame boundaries stay
		// where they were.
		over = (over + wire.CallFrameSamples - 1) / wire.CallFrameSamples * wire.CallFrameSamples
		d.queue = append(d.queue[:0], d.queue[over:]...)
	}
	if len(d.queue) >= wire.CallFrameSamples {
		select {
		case d.frames <- struct{}{}:
		default:
		}
	}
}

// Read waits for a whole frame captured and copies it into pcm.
func (c capture) Read(ctx context.Context, pcm []int16) error {
	if len(pcm) != wire.CallFrameSamples {
		return fmt.Errorf("%w: reading into %d samples, want %d", ErrFrameSize, len(pcm), wire.CallFrameSamples)
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if len(c.queue) >= wire.CallFrameSamples {
			copy(pcm, c.queue)
			c.queue = append(c.queue[:0], c.queue[wire.CallFrameSamples:]...)
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		case <-c.frames:
		}
	}
}

// playback is a speaker as a Sink.
type playback struct{ *device }

// OpenPlayback opens a speaker ("" for the default, else an ID from
// Devices) as a Sink; with no sound hardware, the null backend's (it
// discards). Write queues a frame; the device plays the queue and
// silence when it runs dry; beyond 200 ms queued, the oldest is dropped.
func OpenPlayback(id string) (Sink, error) {
	d, err := openDevice(malgo.Playback, id, func(d *device) malgo.DataProc {
		return func(out, _ []byte, _ uint32) { d.play(out) }
	})
	if err != nil {
		return nil, err
	}
	return playback{d}, nil
}

// play is the playback callback: it fills out (s16le mono) from the
// queue, and with silence where the queue runs dry.
func (d *device) play(out []byte) {
	d.mu.Lock()
	k := min(len(d.queue), len(out)/2)
	for i, v := range d.queue[:k] {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
	d.queue = append(d.queue[:0], d.queue[k:]...)
	d.mu.Unlock()
	clear(out[2*k:])
}

// Write queues pcm to be played.
func (p playback) Write(pcm []int16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.queue = append(p.queue, pcm...)
	if over := len(p.queue) - queueFrames*wire.CallFrameSamples; over > 0 {
		p.queue = append(p.queue[:0], p.queue[over:]...)
	}
	return nil
}

// Queued returns how many samples wait to be played: a test's view of
// the bound on delay.
func (p playback) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}
