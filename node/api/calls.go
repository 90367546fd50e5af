package api

import (
	"context"
	"errors"
	"time"
)

// Calls is what front ends do with voice calls between two contacts
// (issue 18, node/call): end-to-end encrypted Opus audio over the
// connection the two devices already have (direct, hole-punched or
// relayed). One call at a time: a second incoming call is answered "busy".
//
// The node does the audio itself, from and to the devices CallAudio
// names, or files in their place (bots, tests, servers without sound).
// Progress comes as events: IncomingCall on the callee, CallEvent on both
// sides as the call moves, CallStats about once a second while it runs.
type Calls interface {
	// Call rings every online device of an accepted contact and returns
	// the call's ID at once. A contact not online now fails at once with
	// ErrOffline ("bob is offline"); one call at a time (ErrBusy).
	Call(ctx context.Context, to string, audio CallAudio) (string, error)
	// AnswerCall accepts an incoming call (announced by an IncomingCall
	// event) with the given audio; DeclineCall refuses it.
	AnswerCall(ctx context.Context, id string, audio CallAudio) error
	DeclineCall(ctx context.Context, id string) error
	// HangUp ends a call from either side, ringing or running (a caller
	// hanging up before an answer cancels it: the callee sees it missed).
	HangUp(ctx context.Context, id string) error
	// MuteCall stops (or resumes) sending our voice; SetCallVolume scales
	// what we hear (0 silent, 1 as received, up to 2).
	MuteCall(ctx context.Context, id string, muted bool) error
	SetCallVolume(ctx context.Context, id string, volume float64) error
	// ActiveCalls lists the calls ringing or running now.
	ActiveCalls(ctx context.Context) ([]CallEvent, error)
	// AudioDevices lists the sound devices a call can use.
	AudioDevices(ctx context.Context) ([]AudioDevice, error)
	// MicrophoneLevel listens to an input device ("" the default) for d
	// (at most MaxLevelWindow) and returns the loudest level it heard,
	// 0 (silence) to 1 (full scale): Options → Audio's microphone test.
	MicrophoneLevel(ctx context.Context, input string, d time.Duration) (float64, error)
}

// Call errors front ends branch on.
var (
	// ErrOffline: the contact has no device online to ring.
	ErrOffline = errors.New("offline")
	// ErrBusy: a call is already ringing or running here.
	ErrBusy = errors.New("already in a call")
	// ErrNoSuchCall: no call with that ID is ringing or running.
	ErrNoSuchCall = errors.New("no such call")
)

// MaxLevelWindow is the longest MicrophoneLevel listens.
const MaxLevelWindow = 5 * time.Second

// CallAudio is where a call's sound comes from and goes to. Empty fields
// mean the default devices.
type CallAudio struct {
	// Input and Output are sound devices' IDs (AudioDevices).
	Input  string `json:"input,omitempty"`
	Output string `json:"output,omitempty"`
	// InFile is a WAV file (or raw 48 kHz mono 16-bit little-endian PCM,
	// named *.pcm or *.raw) sent in real time instead of the microphone;
	// silence follows its end. OutFile is a WAV file the call's audio is
	// written to instead of the speakers, as it plays.
	InFile  string `json:"inFile,omitempty"`
	OutFile string `json:"outFile,omitempty"`
}

// CallState is where a call stands.
type CallState string

// States of a call.
const (
	CallCalling  CallState = "calling"  // ours, sent; no device rings yet
	CallRinging  CallState = "ringing"  // ours rings at the contact, or theirs rings here
	CallActive   CallState = "active"   // answered: audio flows
	CallEnded    CallState = "ended"    // over; Reason says how
	CallIncoming CallState = "incoming" // theirs, announced here (with an IncomingCall event)
)

// Reasons a call ended (CallEvent.Reason).
const (
	CallReasonHungUp    = "hung up"            // we hung up
	CallReasonTheyHung  = "they hung up"       // the contact did
	CallReasonDeclined  = "declined"           // the callee declined
	CallReasonBusy      = "busy"               // the callee was in another call
	CallReasonMissed    = "missed"             // nobody answered in CallRingTimeout, or the caller gave up
	CallReasonOffline   = "offline"            // the contact went offline
	CallReasonLost      = "connection lost"    // the audio stopped arriving for CallLostAfter
	CallReasonElsewhere = "answered elsewhere" // another device of ours took it
	CallReasonFailed    = "failed"             // anything else (Error says what)
)

// Call timing.
const (
	// CallRingTimeout: an unanswered call ends as missed.
	CallRingTimeout = 45 * time.Second
	// CallLostAfter: a running call that hears nothing (not even
	// keep-alives) for this long ends as lost.
	CallLostAfter = 10 * time.Second
)

// IncomingCall: a contact is calling us (notification callIncoming).
type IncomingCall struct {
	ID   string `json:"callId"`
	From string `json:"from"`
}

// CallEvent is a call's state (notification callState).
type CallEvent struct {
	ID       string    `json:"callId"`
	With     string    `json:"with"`     // the contact
	Outgoing bool      `json:"outgoing"` // we called
	State    CallState `json:"state"`
	Reason   string    `json:"reason,omitempty"` // when ended
	// Relayed: the audio goes through a supernode's relay (it still
	// cannot read it: frames are sealed end to end).
	Relayed bool `json:"relayed,omitempty"`
	// Since is when the call was answered (zero before).
	Since time.Time `json:"since,omitzero"`
}

// CallQuality is the call's quality in words, from measured delay and
// loss.
type CallQuality string

// Qualities of a running call.
const (
	QualityGood CallQuality = "good"
	QualityPoor CallQuality = "poor"
)

// CallStats measures a running call (notification callStats), about once a
// second.
type CallStats struct {
	ID string `json:"callId"`
	// Delay is the receiver's jitter buffer delay plus the measured one-way
	// network delay estimate (half the round trip), in milliseconds.
	Delay int `json:"delayMs"`
	// Loss is the share of the last window's frames that were lost or
	// late, 0..1 (concealed frames).
	Loss float64 `json:"loss"`
	// Rebuilt is the part of Loss rebuilt from the next frame's in-band
	// FEC (nearly as heard); the rest was guessed by loss concealment.
	// Quality is judged on what was not rebuilt.
	Rebuilt float64     `json:"rebuilt"`
	Quality CallQuality `json:"quality"`
	Relayed bool        `json:"relayed,omitempty"`
	// Level is how loud the contact was in the last window, 0..1.
	Level float64 `json:"level"`
}

// AudioDevice is a sound device a call can use.
type AudioDevice struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Input   bool   `json:"input"` // a microphone; else a speaker
	Default bool   `json:"default,omitempty"`
}
