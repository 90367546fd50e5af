package soak

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Accounts on two devices: Config.Twins of the accounts also sign in on a
// second computer, in another LAN. Their contacts' messages must reach both
// devices once each, in order; either device writes, and what one writes
// must show on the other as sent. The second devices live through the same
// churn (stops, kills, sign-outs) as the first ones, so each catches up
// from its own mailbox. They take part in 1:1 and multi-party
// conversations; rooms are written and checked at the first devices.

// twinAccounts is which accounts of nodes get a second device: twins of
// them, spread evenly, the first account first.
func twinAccounts(nodes, twins int) []int {
	var out []int
	for k := range min(twins, nodes) {
		out = append(out, k*nodes/twins)
	}
	return out
}

// startTwins starts the second devices' daemons.
func (s *run) startTwins() error {
	for _, i := range twinAccounts(len(s.nodes), s.cfg.Twins) {
		first := s.nodes[i]
		lan := first.lan%s.cfg.LANs + 1 // another LAN: they meet through the WAN
		n := &node{i: len(s.nodes) + len(s.twins), lan: lan, dev: 1, user: first.user, pw: first.pw,
			prof: first.prof + "-2", ns: s.topo.LANNS(lan), log: first.log[:len(first.log)-len(".log")] + "-2.log",
			bin: filepath.Join(s.cfg.Bin, "eserver-node"), mail: &s.mail, rooms: &roomLog{}, verbose: s.cfg.Verbose}
		if err := n.start(); err != nil {
			return err
		}
		s.twins = append(s.twins, n)
	}
	return nil
}

// signInTwins signs the second devices in, once their accounts have their
// contacts, and waits until each holds its account's contact list (synced
// from the first device through the homes).
func (s *run) signInTwins(ctx context.Context) error {
	err := parallel(len(s.twins), func(k int) error {
		n := s.twins[k]
		first := s.first(n.user)
		n.mu.Lock()
		defer n.mu.Unlock()
		err := retry(ctx, time.Minute, func(ctx context.Context) error {
			err := n.d.call(ctx, "login", map[string]any{"server": s.authAddr(n.lan), "username": n.user, "password": n.pw}, nil)
			if err != nil && n.signedIn(ctx) {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("signing %s in: %w", n.name(), err)
		}
		n.in = true
		want, err := accepted(ctx, first)
		if err != nil {
			return err
		}
		return retry(ctx, 2*time.Minute, func(ctx context.Context) error {
			got, err := accepted(ctx, n)
			if err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("%s has contacts %v, its first device %v", n.name(), got, want)
			}
			return err
		})
	})
	if err == nil && len(s.twins) > 0 {
		s.logf("%d accounts on a second device too, each with its contact list", len(s.twins))
	}
	return err
}

// accepted is n's accepted contacts, sorted.
func accepted(ctx context.Context, n *node) ([]string, error) {
	var r struct {
		Contacts []struct{ Username, Relation string }
	}
	if err := n.d.call(ctx, "listContacts", map[string]any{}, &r); err != nil {
		return nil, fmt.Errorf("contacts of %s: %w", n.name(), err)
	}
	var out []string
	for _, c := range r.Contacts {
		if c.Relation == "accepted" {
			out = append(out, c.Username)
		}
	}
	slices.Sort(out)
	return out, nil
}

// all is every daemon: the first devices in s.nodes' order, then the
// second ones.
func (s *run) all() []*node { return append(slices.Clip(s.nodes), s.twins...) }

// twinOf is the index in all() of the second device of s.nodes[i]'s
// account, or -1.
func (s *run) twinOf(i int) int {
	for k, t := range s.twins {
		if t.user == s.nodes[i].user {
			return len(s.nodes) + k
		}
	}
	return -1
}

// first is user's first device.
func (s *run) first(user string) *node {
	for _, n := range s.nodes {
		if n.user == user {
			return n
		}
	}
	return nil
}

// devicesOf is every device of user's account.
func (s *run) devicesOf(user string) []*node {
	var out []*node
	for _, n := range s.all() {
		if n.user == user {
			out = append(out, n)
		}
	}
	return out
}

// name tells n apart from its account's other device in the log.
func (n *node) name() string {
	if n.dev == 0 {
		return n.user
	}
	return fmt.Sprintf("%s#%d", n.user, n.dev+1)
}
