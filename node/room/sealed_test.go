package room

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"eserver/node/wire"
)

// sealedMessage is a RoomMessage of the lounge carrying sealed instead of
// text.
func sealedMessage(text string, s *wire.RoomSealed) *wire.RoomMessage {
	return &wire.RoomMessage{Room: "lounge", Id: "m1", Author: "olivia", TimeUnixMilli: 1, Text: text, Sealed: s}
}

func goodSealed() *wire.RoomSealed {
	return &wire.RoomSealed{KeyId: bytes.Repeat([]byte{1}, wire.RoomKeyID), Nonce: bytes.Repeat([]byte{2}, wire.RoomSealNonce),
		Ciphertext: bytes.Repeat([]byte{3}, wire.RoomSealTag+5)}
}

// TestSealedShape: a message carries text or a sealed text, never both
// nor neither, and a sealed text has its sizes; the longest one fits in a
// message.
func TestSealedShape(t *testing.T) {
	with := func(f func(s *wire.RoomSealed)) *wire.RoomSealed { s := goodSealed(); f(s); return s }
	for _, tc := range []struct {
		name string
		m    *wire.RoomMessage
		ok   bool
	}{
		{"text", sealedMessage("hi", nil), true},
		{"sealed", sealedMessage("", goodSealed()), true},
		{"neither", sealedMessage("", nil), false},
		{"both", sealedMessage("hi", goodSealed()), false},
		{"a short key ID", sealedMessage("", with(func(s *wire.RoomSealed) { s.KeyId = s.KeyId[1:] })), false},
		{"a long nonce", sealedMessage("", with(func(s *wire.RoomSealed) { s.Nonce = append(s.Nonce, 0) })), false},
		{"only a tag", sealedMessage("", with(func(s *wire.RoomSealed) { s.Ciphertext = s.Ciphertext[:wire.RoomSealTag] })), false},
		{"the longest", sealedMessage("", with(func(s *wire.RoomSealed) { s.Ciphertext = make([]byte, wire.MaxRoomSealed) })), true},
		{"too long", sealedMessage("", with(func(s *wire.RoomSealed) { s.Ciphertext = make([]byte, wire.MaxRoomSealed+1) })), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMessage(wire.MustMarshal(tc.m))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && !errors.Is(err, ErrMalformed):
				t.Fatalf("got %v, want %v", err, ErrMalformed)
			case tc.ok && (m.Text == "") == (m.Sealed == nil):
				t.Fatalf("text %q and sealed %v", m.Text, m.Sealed)
			}
		})
	}
	longest := sealedMessage("", goodSealed())
	longest.Id, longest.Author, longest.Room = strings.Repeat("i", wire.MaxRoomMessageID), strings.Repeat("a", wire.MaxUsername), strings.Repeat("r", wire.MaxRoomName)
	longest.Sealed.Ciphertext = make([]byte, wire.MaxRoomSealed)
	if n := len(wire.MustMarshal(longest)); n > wire.MaxRoomMessage {
		t.Fatalf("the longest sealed message takes %d bytes, limit %d", n, wire.MaxRoomMessage)
	}
}

// FuzzParseMessage: whatever bytes a message holds, parsing never panics,
// refuses with ErrMalformed, and what it takes carries exactly one of a
// text and a sealed text of their sizes.
func FuzzParseMessage(f *testing.F) {
	f.Add(wire.MustMarshal(sealedMessage("hi", nil)))
	f.Add(wire.MustMarshal(sealedMessage("", goodSealed())))
	f.Add(wire.MustMarshal(sealedMessage("hi", goodSealed())))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > wire.MaxRoomMessage {
			return
		}
		m, err := parseMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error without its sentinel: %v", err)
			}
			return
		}
		if (m.Text == "") == (m.Sealed == nil) {
			t.Fatalf("text %q and sealed %v", m.Text, m.Sealed)
		}
		if s := m.Sealed; s != nil && (len(s.KeyId) != wire.RoomKeyID || len(s.Nonce) != wire.RoomSealNonce || len(s.Ciphertext) > wire.MaxRoomSealed) {
			t.Fatalf("sealed out of shape: %d, %d, %d", len(s.KeyId), len(s.Nonce), len(s.Ciphertext))
		}
	})
}
