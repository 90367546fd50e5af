package node

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/handover"
	"eserver/node/store"
	"eserver/node/wire"
)

// The session's side of the history hand-over (node/handover): which
// devices may ask and be asked, and when this device asks.

// handoverRounds bounds how often a new device goes over our online
// devices looking for one to send it the history; it waits Config.RetryMax
// after the first round, twice that after the second: another device may
// not have heard of the new one yet (its hello is on the way) or may still
// be signing in.
const handoverRounds = 3

// Sibling reports whether p is another device in our account's signed
// list (handover.Host): the only devices we give our history to or take
// one from. Being listed is the password proof (see node/handover).
func (s *session) Sibling(p peer.ID) bool {
	own := s.identity.Own()
	return own != nil && p != s.host.ID() && own.Has(p)
}

// wantsHistory reports whether this device should ask for the history: no
// hand-over to it has finished, and this sign-in listed it in our account
// (a new device), or an earlier sign-in did and no device answered then
// (store.HandoverWanted: messages may have arrived since, so the history
// is no longer empty), or it holds no history at all (a new device whose
// listing an earlier, cut short sign-in did).
func (s *session) wantsHistory() bool {
	done, err := s.store.Setting(store.HandoverDone)
	if err != nil || done != "" {
		return false
	}
	if s.listChanged {
		if err := s.store.SetSetting(store.HandoverWanted, "1"); err != nil {
			s.n.log.Warn("remembering that this device wants the history", "err", err)
		}
		return true
	}
	if wanted, err := s.store.Setting(store.HandoverWanted); err == nil && wanted != "" {
		return true
	}
	has, err := s.store.HasHistory()
	return err == nil && !has
}

// fetchHistory asks our other online devices, one after another, for the
// recent history until one hands it over, in at most handoverRounds rounds
// over them. It runs in the session's goroutine group: signing out stops
// it.
func (s *session) fetchHistory(ctx context.Context) {
	since := s.Now().Add(-handover.DefaultWindow)
	for round := range handoverRounds {
		if round > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(round) * s.n.cfg.RetryMax):
			}
		}
		others, listed := s.otherDevices()
		if !listed {
			// No list of ours (the account identity could not be set up at
			// this sign-in): nobody to trust; the next sign-in asks again.
			s.n.log.Info("no account device list to find our other devices in; asking for the history at the next sign-in")
			return
		}
		if len(others) == 0 {
			// The account's only device: nobody has history to give.
			s.handoverDone("no other device")
			return
		}
		online, err := s.discovery.OnlineDevices(ctx, s.me())
		if err != nil {
			s.n.log.Warn("finding our devices online for the history", "err", err)
			continue
		}
		for _, p := range others {
			if !online[p] {
				continue
			}
			err := s.fetchHistoryFrom(ctx, p, since)
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				return
			}
			s.n.log.Warn("fetching our history from another device", "peer", p, "err", err)
		}
	}
	s.n.log.Info("no device of ours handed the history over; asking again at the next sign-in")
}

// fetchHistoryFrom finds device p and takes the history since since from it.
func (s *session) fetchHistoryFrom(ctx context.Context, p peer.ID, since time.Time) error {
	dctx, cancel := context.WithTimeout(ctx, wire.DialTimeout)
	_, err := s.discovery.ResolveDevice(dctx, s.me(), p, true)
	if err == nil {
		err = s.host.Connect(dctx, peer.AddrInfo{ID: p})
	}
	cancel()
	if err != nil {
		return err
	}
	res, err := s.handover.Fetch(ctx, p, since)
	if err != nil {
		if errors.Is(err, handover.ErrNotOwnDevice) {
			// The other device does not list us (yet): its list is older
			// than ours. Another device, or a later round, may.
			s.n.log.Info("another device of ours does not list this one yet", "peer", p)
		}
		return err
	}
	s.n.log.Info("history handed over", "peer", p, "received", res.Received, "added", res.Added)
	s.handoverDone(p.String())
	return nil
}

// otherDevices is our account's listed devices but this one; listed is
// false when we hold no list.
func (s *session) otherDevices() (out []peer.ID, listed bool) {
	own := s.identity.Own()
	if own == nil {
		return nil, false
	}
	for _, d := range own.Devices {
		if d.Peer != s.host.ID() {
			out = append(out, d.Peer)
		}
	}
	return out, true
}

// handoverDone remembers that this device needs no hand-over any more.
func (s *session) handoverDone(from string) {
	if err := s.store.SetSetting(store.HandoverDone, from); err != nil {
		s.n.log.Warn("remembering the history hand-over", "err", err)
	}
}
