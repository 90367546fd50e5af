package promotion

import (
	"errors"
	"testing"
)

func TestParseMemAvailable(t *testing.T) {
	in := []byte("MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    3000000 kB\n")
	got, err := parseMemAvailable(in)
	if err != nil || got != 3000000<<10 {
		t.Errorf("parseMemAvailable = %d, %v", got, err)
	}
	if _, err := parseMemAvailable([]byte("MemTotal: 1 kB\n")); !errors.Is(err, ErrNoMemAvailable) {
		t.Errorf("no MemAvailable: %v", err)
	}
	if _, err := ProcMemAvailable(); err != nil {
		t.Logf("ProcMemAvailable on this machine: %v", err)
	}
}
