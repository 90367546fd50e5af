package rooms

import (
	"context"
	"errors"
	"testing"
	"time"

	"eserver/supernode/client"
)

// TestWhileBusy: a post answered busy is tried again, up to busyTries
// times; any other answer, or the caller's end, stops it at once.
func TestWhileBusy(t *testing.T) {
	r := &Rooms{cfg: Config{RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond}}
	other := errors.New("refused")
	for _, tc := range []struct {
		name    string
		answers []error
		tries   int
		want    error
	}{
		{"taken at once", []error{nil}, 1, nil},
		{"busy, then taken", []error{client.ErrBusy, client.ErrBusy, nil}, 3, nil},
		{"busy every time", []error{client.ErrBusy, client.ErrBusy, client.ErrBusy, client.ErrBusy, nil}, busyTries, client.ErrBusy},
		{"busy, then refused", []error{client.ErrBusy, other}, 2, other},
		{"refused", []error{other, nil}, 1, other},
	} {
		tries := 0
		err := r.whileBusy(context.Background(), func() error {
			tries++
			return tc.answers[tries-1]
		})
		if tries != tc.tries || !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %d tries, %v; want %d, %v", tc.name, tries, err, tc.tries, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.cfg.RetryMin = time.Hour
	tries := 0
	if err := r.whileBusy(ctx, func() error { tries++; return client.ErrBusy }); !errors.Is(err, client.ErrBusy) || tries != 1 {
		t.Fatalf("a caller gone: %d tries, %v", tries, err)
	}
}
