package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestValidRoomName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"ab", false},
		{strings.Repeat("a", MaxRoomName), true},
		{strings.Repeat("a", MaxRoomName+1), false},
		{"go-lang_fans.es", true},
		{"9lives", true},
		{"-dash", false},
		{".dot", false},
		{"Lounge", false},
		{"café", false},
		{"two words", false},
		{"#lounge", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidRoomName(tt.name)
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrBadRoomName) {
				t.Fatalf("ValidRoomName(%q) = %v", tt.name, err)
			}
		})
	}
}

func TestRoomRegion(t *testing.T) {
	tests := []struct{ name, region string }{
		{RegionalRoom("ES"), "ES"},
		{"region-fr", "FR"},
		{"region-europe", ""},
		{"region-e1", ""},
		{"lounge", ""},
	}
	for _, tt := range tests {
		if got := RoomRegion(tt.name); got != tt.region {
			t.Errorf("RoomRegion(%q) = %q, want %q", tt.name, got, tt.region)
		}
		if err := ValidRoomName(tt.name); err != nil {
			t.Errorf("%q: %v", tt.name, err)
		}
	}
}
