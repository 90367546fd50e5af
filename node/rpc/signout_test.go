package rpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/api/apitest"
)

// stoppingNode is a fake whose sign-out, as a node's, shows what its
// loops took while they stopped (room messages) and then signedOut, all
// before Logout returns.
type stoppingNode struct {
	*apitest.Fake
	shown int
}

func (n *stoppingNode) Logout(ctx context.Context) error {
	if err := n.Fake.Logout(ctx); err != nil {
		return err
	}
	for i := range n.shown {
		n.Events <- api.Event{RoomMessage: &api.RoomMessage{Room: "busy", ID: fmt.Sprintf("r%d", i), From: "bob", Text: "still coming"}}
	}
	n.Events <- api.Event{SignedOut: true}
	return nil
}

// TestSignOutAtEnd: a daemon's Serve, at EOF or at its context's end,
// signs the node out before it stops writing notifications, and returns
// once the signedOut that follows the node's last events is written: the
// room messages its loops showed while stopping reach the client, in
// order. Without SignOutAtEnd (as before) Serve stops the notifications
// first and leaves the node as it is. A node signed out already is not
// waited for.
func TestSignOutAtEnd(t *testing.T) {
	const shown = 40
	for _, tc := range []struct {
		name     string
		signOut  bool
		end      string // "eof" or "cancel"
		loggedIn bool
		want     []string
	}{
		{"eof", true, "eof", true, nil},
		{"a signal", true, "cancel", true, nil},
		{"not signed in", true, "eof", false, []string{}},
		{"without", false, "eof", true, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.Events = make(chan api.Event, shown+1)
			if !tc.loggedIn {
				f.Fail("Logout", api.ErrNotLoggedIn)
			}
			node := &stoppingNode{Fake: f, shown: shown}
			s := NewServer(node, nil)
			if tc.signOut {
				s = s.SignOutAtEnd()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in, w := io.Pipe()
			var out bytes.Buffer
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- s.Serve(ctx, in, &out) }()
			if tc.end == "cancel" {
				cancel()
				time.Sleep(50 * time.Millisecond) // Serve sees the end while its read waits
			}
			w.Close()
			select {
			case <-done:
			case <-time.After(signOutWait / 2):
				t.Fatal("Serve did not return")
			}
			if time.Since(start) > signOutWait/2 {
				t.Fatalf("Serve took %v", time.Since(start))
			}
			var got []string
			for l := range strings.Lines(out.String()) {
				ln, err := parseLine([]byte(strings.TrimSpace(l)))
				if err != nil {
					t.Fatal(err)
				}
				if ln.Method != "" {
					got = append(got, ln.Method+" "+string(ln.Params))
				}
			}
			want := tc.want
			if want == nil {
				for i := range shown {
					want = append(want, fmt.Sprintf(`roomMessage {"room":"busy","id":"r%d","from":"bob","text":"still coming","time":"0001-01-01T00:00:00Z"}`, i))
				}
				want = append(want, "signedOut {}")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("notifications written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if called := f.Called("Logout"); called != tc.signOut {
				t.Fatalf("Logout called: %v", called)
			}
		})
	}
}
