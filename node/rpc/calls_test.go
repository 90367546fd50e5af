package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"eserver/node/api"
)

// TestCallMethods: each voice-call method's params reach the API as
// given, and its answer is the API's, in the api types' JSON.
func TestCallMethods(t *testing.T) {
	tests := []struct {
		name, method, params string
		wantCall             string
		wantResult           string
	}{
		{"call", "call", `{"to":"bob"}`, `Call bob in="" out="" infile="" outfile=""`, `{"callId":"c1"}`},
		{"call with devices", "call", `{"to":"bob","input":"mic2","output":"hdmi"}`,
			`Call bob in="mic2" out="hdmi" infile="" outfile=""`, `{"callId":"c1"}`},
		{"call with files", "call", `{"to":"bob","inFile":"/tmp/voice.wav","outFile":"/tmp/heard.wav"}`,
			`Call bob in="" out="" infile="/tmp/voice.wav" outfile="/tmp/heard.wav"`, `{"callId":"c1"}`},
		{"answerCall", "answerCall", `{"callId":"c7"}`, `AnswerCall c7 in="" out="" infile="" outfile=""`, `{}`},
		{"answerCall with everything", "answerCall", `{"callId":"c7","input":"mic","output":"spk","inFile":"/a.pcm","outFile":"/b.wav"}`,
			`AnswerCall c7 in="mic" out="spk" infile="/a.pcm" outfile="/b.wav"`, `{}`},
		{"declineCall", "declineCall", `{"callId":"c7"}`, "DeclineCall c7", `{}`},
		{"hangUp", "hangUp", `{"callId":"c7"}`, "HangUp c7", `{}`},
		{"muteCall", "muteCall", `{"callId":"c7","muted":true}`, "MuteCall c7 true", `{}`},
		{"unmute", "muteCall", `{"callId":"c7","muted":false}`, "MuteCall c7 false", `{}`},
		{"setCallVolume", "setCallVolume", `{"callId":"c7","volume":1.5}`, "SetCallVolume c7 1.50", `{}`},
		{"setCallVolume silent", "setCallVolume", `{"callId":"c7","volume":0}`, "SetCallVolume c7 0.00", `{}`},
		{"setCallVolume loudest", "setCallVolume", `{"callId":"c7","volume":2}`, "SetCallVolume c7 2.00", `{}`},
		{"activeCalls", "activeCalls", `{}`, "ActiveCalls", `{"calls":[
			{"callId":"c5","with":"bob","outgoing":true,"state":"active","relayed":true,"since":"2024-01-02T03:04:05.678Z"},
			{"callId":"c6","with":"carol","outgoing":false,"state":"incoming"}]}`},
		{"audioDevices", "audioDevices", ``, "AudioDevices", `{"devices":[
			{"id":"hw:0","name":"Built-in microphone","input":true,"default":true},
			{"id":"hw:1","name":"Speakers","input":false}]}`},
		{"microphoneLevel", "microphoneLevel", `{"ms":250}`, "MicrophoneLevel  250ms", `{"level":0.25}`},
		{"microphoneLevel of a device, longest", "microphoneLevel", `{"input":"hw:0","ms":5000}`, "MicrophoneLevel hw:0 5s", `{"level":0.25}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			fake.Voice.Active = []api.CallEvent{
				{ID: "c5", With: "bob", Outgoing: true, State: api.CallActive, Relayed: true, Since: testTime},
				{ID: "c6", With: "carol", State: api.CallIncoming},
			}
			if tt.method == "call" {
				fake.Voice.Active = nil
			}
			fake.Voice.Devices = []api.AudioDevice{
				{ID: "hw:0", Name: "Built-in microphone", Input: true, Default: true},
				{ID: "hw:1", Name: "Speakers"},
			}
			fake.Voice.Level = 0.25
			h := serve(t, fake)
			resp := h.call(tt.method, tt.params)
			if resp.Error != nil {
				t.Fatalf("error response: %s", resp.raw)
			}
			jsonEqual(t, "result", resp.Result, tt.wantResult)
			if got := fake.Calls(); len(got) != 1 || got[0] != tt.wantCall {
				t.Errorf("API calls = %q, want [%q]", got, tt.wantCall)
			}
		})
	}
}

// TestCallListsEmpty: no call and no device answer empty arrays, never
// null, so scripts need not test for it.
func TestCallListsEmpty(t *testing.T) {
	h := serve(t, newFake())
	jsonEqual(t, "activeCalls", h.call("activeCalls", `{}`).Result, `{"calls":[]}`)
	jsonEqual(t, "audioDevices", h.call("audioDevices", `{}`).Result, `{"devices":[]}`)
}

func TestCallBadParams(t *testing.T) {
	tests := []struct{ name, method, params string }{
		{"call without to", "call", `{}`},
		{"call to empty", "call", `{"to":""}`},
		{"call unknown field", "call", `{"to":"bob","file":"/x.wav"}`},
		{"call inFile number", "call", `{"to":"bob","inFile":1}`},
		{"call by callId", "call", `{"to":"bob","callId":"c1"}`},
		{"answerCall without callId", "answerCall", `{"inFile":"/x.wav"}`},
		{"answerCall with to", "answerCall", `{"callId":"c1","to":"bob"}`},
		{"declineCall without callId", "declineCall", `{}`},
		{"declineCall callId number", "declineCall", `{"callId":1}`},
		{"hangUp without callId", "hangUp", `{}`},
		{"hangUp by another key", "hangUp", `{"id":"c1"}`},
		{"muteCall without muted", "muteCall", `{"callId":"c1"}`},
		{"muteCall muted not bool", "muteCall", `{"callId":"c1","muted":"yes"}`},
		{"muteCall without callId", "muteCall", `{"muted":true}`},
		{"setCallVolume without volume", "setCallVolume", `{"callId":"c1"}`},
		{"setCallVolume negative", "setCallVolume", `{"callId":"c1","volume":-0.1}`},
		{"setCallVolume too loud", "setCallVolume", `{"callId":"c1","volume":2.01}`},
		{"setCallVolume not a number", "setCallVolume", `{"callId":"c1","volume":"loud"}`},
		{"setCallVolume without callId", "setCallVolume", `{"volume":1}`},
		{"activeCalls with params", "activeCalls", `{"all":true}`},
		{"audioDevices with params", "audioDevices", `{"input":true}`},
		{"microphoneLevel without ms", "microphoneLevel", `{}`},
		{"microphoneLevel 0 ms", "microphoneLevel", `{"ms":0}`},
		{"microphoneLevel too long", "microphoneLevel", `{"ms":5001}`},
		{"microphoneLevel fraction", "microphoneLevel", `{"ms":1.5}`},
		{"microphoneLevel input number", "microphoneLevel", `{"input":1,"ms":100}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { refusesParams(t, tt.method, tt.params) })
	}
}

// TestCallErrors: the call errors a script branches on reach it with
// their codes, from the methods that meet them, in the node's words.
func TestCallErrors(t *testing.T) {
	tests := []struct {
		method, params, apiMethod string
		err                       error
		wantCode                  string
	}{
		{"call", `{"to":"bob"}`, "Call", fmt.Errorf("bob is %w", api.ErrOffline), "offline"},
		{"call", `{"to":"bob"}`, "Call", api.ErrBusy, "busy"},
		{"call", `{"to":"eve"}`, "Call", fmt.Errorf("calling eve: %w", api.ErrNotContact), "not_contact"},
		{"answerCall", `{"callId":"c9"}`, "AnswerCall", fmt.Errorf("c9: %w", api.ErrNoSuchCall), "no_such_call"},
		{"answerCall", `{"callId":"c9"}`, "AnswerCall", api.ErrBusy, "busy"},
		{"declineCall", `{"callId":"c9"}`, "DeclineCall", api.ErrNoSuchCall, "no_such_call"},
		{"hangUp", `{"callId":"c9"}`, "HangUp", api.ErrNoSuchCall, "no_such_call"},
		{"muteCall", `{"callId":"c9","muted":true}`, "MuteCall", api.ErrNoSuchCall, "no_such_call"},
		{"setCallVolume", `{"callId":"c9","volume":1}`, "SetCallVolume", api.ErrNoSuchCall, "no_such_call"},
		{"microphoneLevel", `{"input":"hw:9","ms":10}`, "MicrophoneLevel", fmt.Errorf("no device hw:9: %w", api.ErrBadRequest), "bad_request"},
		{"activeCalls", `{}`, "ActiveCalls", api.ErrNotLoggedIn, "not_logged_in"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.wantCode, func(t *testing.T) {
			fake := newFake()
			fake.Fail(tt.apiMethod, tt.err)
			h := serve(t, fake)
			resp := h.call(tt.method, tt.params)
			e := resp.Error
			if e == nil || e.Code != CodeApplication || e.Message != tt.err.Error() || e.Data == nil || e.Data.Code != tt.wantCode {
				t.Errorf("response = %s, want -32000 %q data.code %q", resp.raw, tt.err, tt.wantCode)
			}
		})
	}
}

// TestCallNotifications: the node's call events are written as
// callIncoming, callState and callStats, in the api types' JSON, in order.
func TestCallNotifications(t *testing.T) {
	tests := []struct {
		name   string
		events []api.Event
		want   []note
	}{
		{"incoming", []api.Event{
			{CallIncoming: &api.IncomingCall{ID: "c1", From: "bob"}, CallState: &api.CallEvent{ID: "c1", With: "bob", State: api.CallIncoming}},
		}, []note{
			{"callIncoming", `{"callId":"c1","from":"bob"}`},
			{"callState", `{"callId":"c1","with":"bob","outgoing":false,"state":"incoming"}`},
		}},
		{"outgoing answered, then hung up", []api.Event{
			{CallState: &api.CallEvent{ID: "c2", With: "bob", Outgoing: true, State: api.CallCalling}},
			{CallState: &api.CallEvent{ID: "c2", With: "bob", Outgoing: true, State: api.CallRinging}},
			{CallState: &api.CallEvent{ID: "c2", With: "bob", Outgoing: true, State: api.CallActive, Relayed: true, Since: testTime}},
			{CallStats: &api.CallStats{ID: "c2", Delay: 85, Loss: 0.02, Rebuilt: 0.015, Quality: api.QualityGood, Relayed: true, Level: 0.4}},
			{CallState: &api.CallEvent{ID: "c2", With: "bob", Outgoing: true, State: api.CallEnded, Reason: api.CallReasonTheyHung, Relayed: true, Since: testTime}},
		}, []note{
			{"callState", `{"callId":"c2","with":"bob","outgoing":true,"state":"calling"}`},
			{"callState", `{"callId":"c2","with":"bob","outgoing":true,"state":"ringing"}`},
			{"callState", `{"callId":"c2","with":"bob","outgoing":true,"state":"active","relayed":true,"since":"2024-01-02T03:04:05.678Z"}`},
			{"callStats", `{"callId":"c2","delayMs":85,"loss":0.02,"rebuilt":0.015,"quality":"good","relayed":true,"level":0.4}`},
			{"callState", `{"callId":"c2","with":"bob","outgoing":true,"state":"ended","reason":"they hung up","relayed":true,"since":"2024-01-02T03:04:05.678Z"}`},
		}},
		{"declined", []api.Event{
			{CallState: &api.CallEvent{ID: "c3", With: "bob", Outgoing: true, State: api.CallEnded, Reason: api.CallReasonDeclined}},
		}, []note{{"callState", `{"callId":"c3","with":"bob","outgoing":true,"state":"ended","reason":"declined"}`}}},
		{"poor quality, silence", []api.Event{
			{CallStats: &api.CallStats{ID: "c4", Delay: 420, Loss: 0.3, Quality: api.QualityPoor}},
		}, []note{{"callStats", `{"callId":"c4","delayMs":420,"loss":0.3,"rebuilt":0,"quality":"poor","level":0}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameNotes(t, notifications(t, newFake(), tt.events), tt.want)
		})
	}
}

// TestHistoryCallEntries: a call in history is an entry of kind "call"
// with how it went, in order with the messages.
func TestHistoryCallEntries(t *testing.T) {
	fake := newFake()
	fake.Messages["bob"] = []api.Message{
		{ID: "m1", From: "alice", To: "bob", Text: "call you?", Time: testTime, State: api.StateDelivered},
		{ID: "c1", From: "alice", To: "bob", Time: testTime.Add(time.Minute), State: api.StateDelivered, Kind: api.KindCall,
			Call: &api.CallNote{Reason: api.CallReasonHungUp, Duration: 83}},
		{ID: "c2", From: "bob", To: "alice", Time: testTime.Add(time.Hour), State: api.StateReceived, Kind: api.KindCall,
			Call: &api.CallNote{Reason: api.CallReasonMissed}},
	}
	h := serve(t, fake)
	resp := h.call("history", `{"with":"bob"}`)
	if resp.Error != nil {
		t.Fatalf("error response: %s", resp.raw)
	}
	jsonEqual(t, "history", resp.Result, `{"messages":[
		{"messageId":"m1","id":"m1","from":"alice","to":"bob","text":"call you?","time":"2024-01-02T03:04:05.678Z","state":"delivered"},
		{"messageId":"c1","id":"c1","from":"alice","to":"bob","text":"","time":"2024-01-02T03:05:05.678Z","state":"delivered","kind":"call",
			"call":{"reason":"hung up","duration":83}},
		{"messageId":"c2","id":"c2","from":"bob","to":"alice","text":"","time":"2024-01-02T04:04:05.678Z","state":"received","kind":"call",
			"call":{"reason":"missed","duration":0}}]}`)
}

// TestMicrophoneLevelHoldsNothingUp: a level test listening for seconds
// does not delay what follows it, a hangUp above all.
func TestMicrophoneLevelHoldsNothingUp(t *testing.T) {
	fake := newFake()
	listening := make(chan struct{})
	// microphoneLevel as the node answers it: after its window. Here the
	// window ends when the test says so.
	h := serveWith(t, fake, map[string]handler{
		"microphoneLevel": func(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
			<-listening
			return microphoneLevel(ctx, backend, raw)
		},
	})
	h.send(`{"jsonrpc":"2.0","id":1,"method":"microphoneLevel","params":{"ms":5000}}`)
	h.send(`{"jsonrpc":"2.0","id":2,"method":"hangUp","params":{"callId":"c1"}}`)
	if resp := h.response("2"); resp.Error != nil {
		t.Fatalf("hangUp: %s", resp.raw)
	}
	close(listening)
	if resp := h.response("1"); resp.Error != nil {
		t.Fatalf("microphoneLevel: %s", resp.raw)
	}
	if got := fake.Calls(); len(got) != 2 || got[0] != "HangUp c1" || got[1] != "MicrophoneLevel  5s" {
		t.Errorf("API calls = %q, want the hangUp first", got)
	}
}
