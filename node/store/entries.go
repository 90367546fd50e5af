package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// History entries besides messages: what the chat window showed between
// them, kept so the history viewer shows it too. They live in messages
// (kind names which), ordered with the messages by seq, sealed the same way:
// the nudge, file name and member of an entry are no more readable on disk
// than a message's words.
const (
	// EntryMessage is a chat message (the zero kind).
	EntryMessage = ""
	// EntryNudge: Peer nudged us (incoming) or we nudged Peer (outgoing).
	// Text is empty.
	EntryNudge = "nudge"
	// EntryFile: a file transfer with Peer ended; Text is the file's name,
	// File how it ended.
	EntryFile = "file"
	// EntryJoined: Text (a username) joined the conversation Peer, invited
	// by Sender (by us when outgoing).
	EntryJoined = "joined"
	// EntryLeft: Text (a username) left the conversation Peer; outgoing
	// when that is us.
	EntryLeft = "left"
	// EntryCall: a voice call with Peer, which we placed (outgoing) or
	// they did; Call says how it went. Text is empty.
	EntryCall = "call"
)

// CallEntry is how a voice call went, for an EntryCall.
type CallEntry struct {
	Reason   string // how it ended (api.CallReason…)
	Duration int    // seconds it ran once answered
}

// callBody is an EntryCall's sealed body.
type callBody struct {
	Reason   string `json:"r"`
	Duration int    `json:"d"`
}

// FileEntry is how a file transfer ended, for an EntryFile.
type FileEntry struct {
	Size  int64
	State string // the transfer's final state: done, declined, cancelled or failed
}

// fileBody is an EntryFile's sealed body.
type fileBody struct {
	Name  string `json:"n"`
	Size  int64  `json:"s"`
	State string `json:"st"`
}

// validEntry reports whether kind is one this program writes.
func validEntry(kind string) bool {
	switch kind {
	case EntryMessage, EntryNudge, EntryFile, EntryJoined, EntryLeft, EntryCall:
		return true
	}
	return false
}

// plaintext is what m's sealed body holds.
func plaintext(m *Message) ([]byte, error) {
	if m.Kind == EntryCall {
		var c CallEntry
		if m.Call != nil {
			c = *m.Call
		}
		return json.Marshal(callBody{Reason: c.Reason, Duration: c.Duration})
	}
	if m.Kind != EntryFile {
		return []byte(m.Text), nil
	}
	var f FileEntry
	if m.File != nil {
		f = *m.File
	}
	return json.Marshal(fileBody{Name: m.Text, Size: f.Size, State: f.State})
}

// setPlaintext sets m's text (and file) from its opened body.
func setPlaintext(m *Message, plain []byte) error {
	if m.Kind == EntryCall {
		var b callBody
		if err := json.Unmarshal(plain, &b); err != nil {
			return fmt.Errorf("call entry %q with %q: %w", m.ID, m.Peer, err)
		}
		m.Text, m.Call = "", &CallEntry{Reason: b.Reason, Duration: b.Duration}
		return nil
	}
	if m.Kind != EntryFile {
		m.Text = string(plain)
		return nil
	}
	var b fileBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return fmt.Errorf("file entry %q with %q: %w", m.ID, m.Peer, err)
	}
	m.Text, m.File = b.Name, &FileEntry{Size: b.Size, State: b.State}
	return nil
}

// searchable is the text of m that search finds: a message's words; a
// nudge by the word "nudge"; a file by its name; who joined or left by
// their username and the word for it.
func searchable(m *Message) string {
	switch m.Kind {
	case EntryNudge:
		return "nudge"
	case EntryJoined:
		return m.Text + " joined"
	case EntryLeft:
		return m.Text + " left"
	case EntryCall:
		if m.Call != nil {
			return "call " + m.Call.Reason
		}
		return "call"
	}
	return m.Text
}

// AddEntry stores a history entry that is not a message (m.Kind is one of
// the Entry kinds), sealed and indexed like one: in state delivered when
// outgoing, received otherwise, unless m.State says otherwise, at the
// current time if m.Time is zero. Entries are de-duplicated on (Peer, ID)
// as messages are: a duplicate returns inserted=false and changes nothing.
// It needs the store unlocked (ErrLocked otherwise).
func (s *Store) AddEntry(m Message) (inserted bool, err error) {
	if m.Kind == EntryMessage || !validEntry(m.Kind) {
		return false, fmt.Errorf("store: add entry %q with %q: kind %q is not an entry", m.ID, m.Peer, m.Kind)
	}
	if m.State == "" {
		m.State = StateReceived
		if m.Outgoing {
			m.State = StateDelivered
		}
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	return s.AddIncoming(m)
}
