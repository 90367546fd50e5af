package node

import (
	"context"
	"fmt"
	"time"

	"eserver/node/api"
	"eserver/node/call/audio"
	"eserver/node/wire"
)

// Voice calls are node/call's; the sound devices node/call/audio's.

// Call implements API.
func (n *Node) Call(ctx context.Context, to string, a api.CallAudio) (string, error) {
	s, err := n.acceptedSession(to)
	if err != nil {
		return "", err
	}
	return s.calls.Call(ctx, to, a)
}

// AnswerCall implements API.
func (n *Node) AnswerCall(ctx context.Context, id string, a api.CallAudio) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.calls.AnswerCall(ctx, id, a)
}

// DeclineCall implements API.
func (n *Node) DeclineCall(ctx context.Context, id string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.calls.DeclineCall(ctx, id)
}

// HangUp implements API.
func (n *Node) HangUp(ctx context.Context, id string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.calls.HangUp(ctx, id)
}

// MuteCall implements API.
func (n *Node) MuteCall(ctx context.Context, id string, muted bool) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.calls.MuteCall(ctx, id, muted)
}

// SetCallVolume implements API.
func (n *Node) SetCallVolume(ctx context.Context, id string, volume float64) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.calls.SetCallVolume(ctx, id, volume)
}

// ActiveCalls implements API.
func (n *Node) ActiveCalls(ctx context.Context) ([]api.CallEvent, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.calls.ActiveCalls(ctx)
}

// AudioDevices implements API: signed in or not, the machine's devices.
func (n *Node) AudioDevices(ctx context.Context) ([]api.AudioDevice, error) {
	ds, err := audio.Devices()
	if err != nil {
		return nil, fmt.Errorf("listing sound devices: %w", err)
	}
	out := make([]api.AudioDevice, len(ds))
	for i, d := range ds {
		out[i] = api.AudioDevice{ID: d.ID, Name: d.Name, Input: d.Input, Default: d.Default}
	}
	return out, nil
}

// MicrophoneLevel implements API.
func (n *Node) MicrophoneLevel(ctx context.Context, input string, d time.Duration) (float64, error) {
	if d <= 0 || d > api.MaxLevelWindow {
		return 0, fmt.Errorf("%w: listen for 0 < d ≤ %v", api.ErrBadRequest, api.MaxLevelWindow)
	}
	src, err := audio.OpenCapture(input)
	if err != nil {
		return 0, fmt.Errorf("opening the microphone: %w", err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	level, pcm := 0.0, make([]int16, wire.CallFrameSamples)
	for {
		if err := src.Read(ctx, pcm); err != nil {
			if ctx.Err() != nil {
				return level, nil // listened the whole window
			}
			return level, fmt.Errorf("listening to the microphone: %w", err)
		}
		level = max(level, audio.Level(pcm))
	}
}
