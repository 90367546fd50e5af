package apitest

import (
	"context"
	"fmt"
	"time"

	"eserver/node/api"
)

// FakeCalls is what a Fake's voice-call methods answer.
type FakeCalls struct {
	// Active is what ActiveCalls returns; Call adds the call it starts,
	// HangUp and DeclineCall remove theirs.
	Active []api.CallEvent
	// Devices is what AudioDevices returns; Level what MicrophoneLevel
	// does.
	Devices []api.AudioDevice
	Level   float64
	// Muted and Volume are the last MuteCall and SetCallVolume, by call.
	Muted  map[string]bool
	Volume map[string]float64
}

// Call starts call "c1", "c2", ... calling to.
func (f *Fake) Call(_ context.Context, to string, audio api.CallAudio) (string, error) {
	if err := f.record("Call", "%s in=%q out=%q infile=%q outfile=%q", to, audio.Input, audio.Output, audio.InFile, audio.OutFile); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("c%d", f.nextID)
	f.Voice.Active = append(f.Voice.Active, api.CallEvent{ID: id, With: to, Outgoing: true, State: api.CallCalling})
	return id, nil
}

func (f *Fake) AnswerCall(_ context.Context, id string, audio api.CallAudio) error {
	return f.record("AnswerCall", "%s in=%q out=%q infile=%q outfile=%q", id, audio.Input, audio.Output, audio.InFile, audio.OutFile)
}

func (f *Fake) DeclineCall(_ context.Context, id string) error {
	err := f.record("DeclineCall", "%s", id)
	f.dropCall(id)
	return err
}

func (f *Fake) HangUp(_ context.Context, id string) error {
	err := f.record("HangUp", "%s", id)
	f.dropCall(id)
	return err
}

func (f *Fake) dropCall(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.Voice.Active[:0]
	for _, c := range f.Voice.Active {
		if c.ID != id {
			kept = append(kept, c)
		}
	}
	f.Voice.Active = kept
}

func (f *Fake) MuteCall(_ context.Context, id string, muted bool) error {
	err := f.record("MuteCall", "%s %v", id, muted)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Voice.Muted == nil {
		f.Voice.Muted = map[string]bool{}
	}
	f.Voice.Muted[id] = muted
	return err
}

func (f *Fake) SetCallVolume(_ context.Context, id string, volume float64) error {
	err := f.record("SetCallVolume", "%s %.2f", id, volume)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Voice.Volume == nil {
		f.Voice.Volume = map[string]float64{}
	}
	f.Voice.Volume[id] = volume
	return err
}

func (f *Fake) ActiveCalls(context.Context) ([]api.CallEvent, error) {
	err := f.record("ActiveCalls", "")
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.CallEvent(nil), f.Voice.Active...), err
}

func (f *Fake) AudioDevices(context.Context) ([]api.AudioDevice, error) {
	err := f.record("AudioDevices", "")
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.AudioDevice(nil), f.Voice.Devices...), err
}

func (f *Fake) MicrophoneLevel(_ context.Context, input string, d time.Duration) (float64, error) {
	err := f.record("MicrophoneLevel", "%s %v", input, d)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Voice.Level, err
}
