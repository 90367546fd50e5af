package rpc

import (
	"context"
	"encoding/json"
	"time"

	"eserver/node/api"
)

// Voice calls' methods (issue 18). A call is addressed by its callId, as
// the callIncoming and callState notifications name it; its audio comes
// from and goes to the node's sound devices, or files (api.CallAudio).

// maxCallVolume is the loudest SetCallVolume takes (api.Calls: 0 silent, 1
// as received, up to 2).
const maxCallVolume = 2

// callIDResult is call's answer.
type callIDResult struct {
	CallID string `json:"callId"`
}

func startCall(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		To string `json:"to"`
		api.CallAudio
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("to", p.To); err != nil {
		return nil, err
	}
	id, err := backend.Call(ctx, p.To, p.CallAudio)
	if err != nil {
		return nil, err
	}
	return callIDResult{CallID: id}, nil
}

func answerCall(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		CallID string `json:"callId"`
		api.CallAudio
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("callId", p.CallID); err != nil {
		return nil, err
	}
	if err := backend.AnswerCall(ctx, p.CallID, p.CallAudio); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func muteCall(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		CallID string `json:"callId"`
		Muted  *bool  `json:"muted"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("callId", p.CallID); err != nil {
		return nil, err
	}
	if p.Muted == nil {
		return nil, badParams("missing muted")
	}
	if err := backend.MuteCall(ctx, p.CallID, *p.Muted); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func setCallVolume(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		CallID string   `json:"callId"`
		Volume *float64 `json:"volume"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("callId", p.CallID); err != nil {
		return nil, err
	}
	if p.Volume == nil {
		return nil, badParams("missing volume")
	}
	if *p.Volume < 0 || *p.Volume > maxCallVolume {
		return nil, badParams("volume must be between 0 and %d", maxCallVolume)
	}
	if err := backend.SetCallVolume(ctx, p.CallID, *p.Volume); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func activeCalls(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	cs, err := backend.ActiveCalls(ctx)
	if err != nil {
		return nil, err
	}
	return struct {
		Calls []api.CallEvent `json:"calls"`
	}{mapSlice(cs, callEventOf)}, nil
}

func audioDevices(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	ds, err := backend.AudioDevices(ctx)
	if err != nil {
		return nil, err
	}
	return struct {
		Devices []api.AudioDevice `json:"devices"`
	}{mapSlice(ds, func(d api.AudioDevice) api.AudioDevice { return d })}, nil
}

// microphoneLevel listens for ms milliseconds: a window the caller states,
// so a script never waits longer than it asked (api.MaxLevelWindow at most).
func microphoneLevel(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Input string `json:"input"`
		MS    *int   `json:"ms"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	most := int(api.MaxLevelWindow / time.Millisecond)
	if p.MS == nil {
		return nil, badParams("missing ms")
	}
	if *p.MS < 1 || *p.MS > most {
		return nil, badParams("ms must be between 1 and %d", most)
	}
	level, err := backend.MicrophoneLevel(ctx, p.Input, time.Duration(*p.MS)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return struct {
		Level float64 `json:"level"`
	}{level}, nil
}

// callEventOf is e as the daemon writes it: since in UTC, to the
// millisecond, as every time (absent before the answer).
func callEventOf(e api.CallEvent) api.CallEvent {
	if !e.Since.IsZero() {
		e.Since = utc(e.Since)
	}
	return e
}
