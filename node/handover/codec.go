package handover

import (
	"fmt"
	"time"
	"unicode/utf8"

	"eserver/node/store"
	"eserver/node/wire"
)

// Encode is m as the hand-over carries it.
func Encode(m *store.Message) *wire.HandoverMessage {
	hm := &wire.HandoverMessage{
		Id: m.ID, Peer: m.Peer, Outgoing: m.Outgoing, Text: m.Text, TimeUnixNano: m.Time.UnixNano(),
		State: m.State, Sender: m.Sender, Kind: m.Kind, Device: m.Device, Order: m.Order,
	}
	if m.File != nil {
		hm.FileSize, hm.FileState = m.File.Size, m.File.State
	}
	if m.Call != nil {
		hm.CallReason, hm.CallDuration = m.Call.Reason, int32(m.Call.Duration)
	}
	return hm
}

// Decode checks a received chunk against the protocol's limits and rules
// and returns its messages to store. A chunk with an error is the other
// device's refusal (ErrNotOwnDevice, ErrRefused); anything out of limits
// is ErrBadChunk, and none of the chunk's messages is returned.
func Decode(c *wire.HandoverChunk) ([]store.Message, error) {
	switch c.GetError() {
	case "":
	case wire.CodeNotOwnDevice:
		return nil, fmt.Errorf("the other device does not list us: %w", ErrNotOwnDevice)
	default:
		return nil, fmt.Errorf("%w: %q", ErrRefused, trim(c.GetError()))
	}
	if n := len(c.GetMessages()); n > wire.MaxHandoverMessages {
		return nil, fmt.Errorf("%w: %d messages, limit %d", ErrBadChunk, n, wire.MaxHandoverMessages)
	}
	ms := make([]store.Message, len(c.GetMessages()))
	for i, hm := range c.GetMessages() {
		m, err := decodeMessage(hm)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", ErrBadChunk, i, err)
		}
		ms[i] = m
	}
	return ms, nil
}

// decodeMessage checks one message and returns it as the store keeps it.
func decodeMessage(hm *wire.HandoverMessage) (store.Message, error) {
	for _, f := range []struct{ name, v string }{
		{"id", hm.GetId()}, {"peer", hm.GetPeer()}, {"sender", hm.GetSender()},
		{"device", hm.GetDevice()}, {"state", hm.GetState()}, {"kind", hm.GetKind()},
	} {
		if len(f.v) > wire.MaxHandoverField {
			return store.Message{}, fmt.Errorf("%s of %d bytes, limit %d", f.name, len(f.v), wire.MaxHandoverField)
		}
	}
	if hm.GetId() == "" || hm.GetPeer() == "" {
		return store.Message{}, fmt.Errorf("empty id or peer")
	}
	if len(hm.GetText()) > wire.MaxChatText {
		return store.Message{}, fmt.Errorf("text of %d bytes, limit %d", len(hm.GetText()), wire.MaxChatText)
	}
	if !utf8.ValidString(hm.GetText()) {
		return store.Message{}, fmt.Errorf("text is not UTF-8")
	}
	switch hm.GetState() {
	case store.StateQueued, store.StateDelivered, store.StateReceived, store.StateFailed:
	default:
		return store.Message{}, fmt.Errorf("unknown state %q", trim(hm.GetState()))
	}
	switch hm.GetKind() {
	case store.EntryMessage, store.EntryNudge, store.EntryFile, store.EntryJoined, store.EntryLeft, store.EntryCall:
	default:
		return store.Message{}, fmt.Errorf("unknown kind %q", trim(hm.GetKind()))
	}
	if hm.GetTimeUnixNano() <= 0 {
		return store.Message{}, fmt.Errorf("no time")
	}
	if hm.GetFileSize() < 0 || len(hm.GetFileState()) > wire.MaxHandoverField {
		return store.Message{}, fmt.Errorf("bad file size or state")
	}
	m := store.Message{
		ID: hm.GetId(), Peer: hm.GetPeer(), Outgoing: hm.GetOutgoing(), Text: hm.GetText(),
		Time: time.Unix(0, hm.GetTimeUnixNano()), State: hm.GetState(), Sender: hm.GetSender(),
		Kind: hm.GetKind(), Device: hm.GetDevice(), Order: hm.GetOrder(),
	}
	if hm.GetCallDuration() < 0 || len(hm.GetCallReason()) > wire.MaxCallReason {
		return store.Message{}, fmt.Errorf("bad call duration or reason")
	}
	switch m.Kind {
	case store.EntryFile:
		m.File = &store.FileEntry{Size: hm.GetFileSize(), State: hm.GetFileState()}
	case store.EntryCall:
		m.Call = &store.CallEntry{Reason: hm.GetCallReason(), Duration: int(hm.GetCallDuration())}
	}
	return m, nil
}

// trim cuts a peer's string for an error message.
func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
