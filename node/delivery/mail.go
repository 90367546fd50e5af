package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/e2e"
	"eserver/node/payload"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Mail: what cannot be handed to a contact directly is left, end-to-end
// encrypted, in the contact's mailboxes at its home supernodes. An item is
// an anonymous box (only a mailbox ID and a padded size show) holding the
// sender's ticket and the very envelope a direct stream would carry, so the
// recipient checks the sender exactly as for a direct message.
const (
	mailPoll      = 30 * time.Second // how often we look in our own mailboxes
	maxReceiptIDs = 1000
)

// ErrStaleMail: a mail item left, or sealed by its sender, longer ago than
// mailboxes keep mail (wire.MailTTL), or sealed in the future. It is
// dropped unopened: only a home that kept it, or lies about it, hands it out.
var ErrStaleMail = errors.New("mail out of date")

// legacyMailUntil ends the acceptance of mail items without a sealing time,
// which releases before 2026-12-07 left: one mail TTL (and a day) after the
// release that added sealing times, no such item can still be in a mailbox.
var legacyMailUntil = time.Date(2027, 1, 7, 0, 0, 0, 0, time.UTC)

// mailTicket returns the ticket to seal mail to username with: the one we
// stored (even expired — the device's keys are still bound to the account)
// or one looked up now.
func (d *Delivery) mailTicket(ctx context.Context, username string) (*ticket.Ticket, error) {
	if c, err := d.h.Store().Contact(username); err == nil && len(c.Ticket) > 0 {
		var st wire.SignedTicket
		if proto.Unmarshal(c.Ticket, &st) == nil {
			if t, err := ticket.VerifySignature(d.h.Ticket().Server, &st); err == nil && t.Username == username {
				return t, nil
			}
		}
	}
	return d.route.Resolve(ctx, username, true)
}

// mailTicket is the ticket mail on c's route is sealed to: for a device
// route, that device's (from its account's list, or its last ticket).
func (c *courier) mailTicket(ctx context.Context) (*ticket.Ticket, error) {
	if c.route == "" {
		return c.d.mailTicket(ctx, c.user)
	}
	if t, ok := c.d.h.DeviceTicket(c.user, c.route); ok {
		return t, nil
	}
	t, err := c.d.route.ResolveDevice(ctx, c.user, c.route, true)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// putMail leaves item in the mailbox at conn's home: in device's mailbox
// when one is given (box, the account's, names the home it belongs to),
// or in the account's own when the home keeps none for devices (an older
// supernode): then whichever device of the account fetches first takes
// it.
func putMail(ctx context.Context, conn *client.MailConn, t *wire.SignedTicket, box, device, item []byte) (uint64, error) {
	if device != nil {
		seq, err := conn.PutDevice(ctx, t, box, device, item)
		if !errors.Is(err, client.ErrNoDeviceMailboxes) {
			return seq, err
		}
	}
	return conn.Put(ctx, t, box, item)
}

// mail leaves entries, in order, in username's mailboxes. It stops at the
// first entry no home accepted; entries handed over leave the outbox.
func (c *courier) mail(ctx context.Context, entries []store.OutboxEntry) error {
	d := c.d
	if !d.route.HasMailboxes() {
		return errors.New("no supernode keeps mailboxes")
	}
	to, err := c.mailTicket(ctx)
	if err != nil {
		return fmt.Errorf("no keys to seal mail to %s: %w", c.peer, err)
	}
	homes := d.route.HomesOf(c.user)
	server := d.h.Ticket().Server
	box, device := client.MailboxID(server, c.user), []byte(nil)
	if c.route != "" {
		device = client.DeviceMailboxID(server, c.user, c.route)
	}
	if err := d.keys.Ensure(ctx, to); err != nil {
		return fmt.Errorf("end-to-end session with %s: %w", c.peer, err)
	}
	for _, e := range entries {
		envs, err := d.keys.Seal(to, []store.OutboxEntry{e})
		if err != nil {
			return err
		}
		raw, err := proto.Marshal(&wire.MailItem{Sender: d.h.Ticket().Signed, Devices: d.h.Devices(), Envelope: envs[0], Order: uint64(e.Seq),
			SealedUnixMilli: d.h.Now().UnixMilli()})
		if err != nil {
			return err
		}
		item, err := e2e.SealAnonymous(to.BoxKey, client.Pad(raw))
		if err != nil {
			return fmt.Errorf("sealing mail %s: %w", e.ID, err)
		}
		// Every home gets a copy, so losing one supernode loses no mail.
		accepted := 0
		var errs []error
		for _, home := range homes {
			if err := d.route.Connect(ctx, home); err != nil {
				errs = append(errs, err)
				continue
			}
			conn, err := d.mailConn(home.ID)
			if err != nil {
				return err
			}
			if _, err := putMail(ctx, conn, d.h.Ticket().Signed, box, device, item); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", home.ID, err))
				continue
			}
			accepted++
		}
		if accepted == 0 {
			return fmt.Errorf("no home of %s took mail %s: %w", c.peer, e.ID, errors.Join(errs...))
		}
		if err := d.h.Store().HandedOver(e.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		d.setMailed(c.peer, true)
	}
	return nil
}

// settingMailed + username marks a contact we left mail for and have not
// spoken to directly since (kept in the store: it must survive a restart).
const settingMailed = "mailed."

// Mailed reports whether we left mail for username and have not spoken to
// it directly since: our next hello asks it to fetch that mail first.
func (d *Delivery) Mailed(username string) bool {
	v, _ := d.h.Store().Setting(settingMailed + username)
	return v == "1"
}

func (d *Delivery) setMailed(username string, mailed bool) {
	v := ""
	if mailed {
		v = "1"
	}
	if err := d.h.Store().SetSetting(settingMailed+username, v); err != nil {
		d.h.Log().Warn("remembering mail left", "contact", username, "err", err)
	}
}

// serveMailNotify: a home says mail came for us.
func (d *Delivery) serveMailNotify(_ context.Context, st network.Stream) error {
	if d.route.IsMailHome(st.Conn().RemotePeer()) {
		d.PokeMail()
	}
	return nil
}

// mailState is the mail drain's: one drain at a time, and a kick for the
// mail loop; and the mailbox streams kept open to homes.
type mailState struct {
	kick chan struct{} // asks mailLoop to look in our mailboxes now
	mu   sync.Mutex    // serializes DrainMail; guards forgot
	// forgot is when the drain last dropped what the store remembers as
	// seen beyond wire.SeenRetention.
	forgot time.Time
	conns  mailConns
}

// mailConns are the mailbox streams kept open, one per supernode we put
// mail at or fetch from: every put, fetch and ack to it is pipelined on
// that one stream instead of opening a stream per request.
type mailConns struct {
	mu sync.Mutex
	m  map[peer.ID]*keptMailConn
}

// keptMailConn is a MailConn and the stop of the task that closes it when
// the delivery closes.
type keptMailConn struct {
	*client.MailConn
	stop chan struct{}
}

// maxMailConns bounds the kept mailbox streams: a node puts mail at its
// contacts' homes, and past this many supernodes one is closed (its
// calls in flight fail and are retried as any failed call is).
const maxMailConns = 64

// mailConn returns the kept mailbox stream to home, made on first use; it
// is closed when the delivery closes.
func (d *Delivery) mailConn(home peer.ID) (*client.MailConn, error) {
	c := &d.mail.conns
	c.mu.Lock()
	defer c.mu.Unlock()
	if kc := c.m[home]; kc != nil {
		return kc.MailConn, nil
	}
	if c.m == nil {
		c.m = map[peer.ID]*keptMailConn{}
	}
	if len(c.m) >= maxMailConns {
		for id, kc := range c.m {
			delete(c.m, id)
			close(kc.stop)
			break
		}
	}
	kc := &keptMailConn{MailConn: client.NewMailConn(d.h.Libp2p(), home), stop: make(chan struct{})}
	// The task owns the conn's life: it closes it (and waits for its
	// reader) when the delivery closes or the conn is evicted.
	if !d.tasks.Go(func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-kc.stop:
		}
		_ = kc.Close()
	}) {
		return nil, errors.New("delivery closed")
	}
	c.m[home] = kc
	return kc.MailConn, nil
}

// forgetEvery is how often the drain drops expired seen-item records.
const forgetEvery = time.Hour

// PokeMail asks the mail loop to look in our mailboxes now (our homes
// changed, or one told us mail came).
func (d *Delivery) PokeMail() {
	select {
	case d.mail.kick <- struct{}{}:
	default:
	}
}

// mailLoop looks in our mailboxes now, every mailPoll, and when poked.
func (d *Delivery) mailLoop(ctx context.Context) {
	tick := time.NewTicker(mailPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.mail.kick:
		}
		dctx, cancel := context.WithTimeout(ctx, 2*wire.MailboxTimeout)
		if err := d.DrainMail(dctx); err != nil && ctx.Err() == nil {
			d.h.Log().Warn("fetching mail", "err", err)
		}
		cancel()
	}
}

// DrainMail fetches, applies and acknowledges everything in our mailboxes.
// Copies at several homes are applied once (the envelope ID de-duplicates),
// and each sender's items in the sender's order, merged across homes: a
// home that missed part of a burst (it was down for a moment) must not make
// the rest of the burst overtake the part another home kept. Nothing is
// acknowledged before it is applied, so a crash mid-drain loses nothing.
func (d *Delivery) DrainMail(ctx context.Context) error {
	// One drain at a time: a sign-in, the poll, a notification and a
	// contact's hello may all ask at once.
	d.mail.mu.Lock()
	defer d.mail.mu.Unlock()
	homes := d.route.MailHomes()
	if len(homes) == 0 {
		return nil
	}
	var (
		pending []mailEntry
		seen    = map[string]bool{}      // sender/envelope already taken this drain
		acks    = map[peer.ID][]uint64{} // home → seqs to acknowledge once applied
		fetched = make([]peer.AddrInfo, 0, len(homes))
	)
	reached, errs := d.connectHomes(ctx, homes)
	if len(reached) > 0 && len(errs) > 0 {
		// Some of these are supernodes we saw fail or that left the
		// registry's list, which may stay down for an hour: their mail
		// waits for them, and a warning every poll would say nothing new.
		d.h.Log().Debug("mail: supernodes not reached", "err", errors.Join(errs...))
		errs = nil
	}
	for _, home := range reached {
		conn, err := d.mailConn(home.ID)
		if err != nil {
			return err
		}
		fetched = append(fetched, home)
		var after uint64
		for {
			items, more, err := conn.Fetch(ctx, d.h.Ticket().Signed, after, wire.MailFetchLimit, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", home.ID, err))
				break
			}
			for _, it := range items {
				after = max(after, it.Seq)
				acks[home.ID] = append(acks[home.ID], it.Seq)
				e, err := d.openMail(it.Item, time.Unix(it.StoredUnix, 0))
				if err != nil {
					// A bad item is dropped, not kept forever: it cannot get better.
					d.h.Log().Info("dropping mail", "seq", it.Seq, "err", err)
					continue
				}
				key := e.sender.Username + "/" + e.env.Id
				if seen[key] {
					continue
				}
				seen[key] = true
				pending = append(pending, e)
			}
			if !more || len(items) == 0 {
				break
			}
		}
	}
	orderMail(pending)
	res, err := d.applyMail(pending)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// Acknowledged right away on the kept streams (not on the next drain's
	// fetch, which may be a poll away): the homes drop what we applied now.
	for _, home := range fetched {
		if seqs := acks[home.ID]; len(seqs) > 0 {
			conn, err := d.mailConn(home.ID)
			if err == nil {
				err = conn.Ack(ctx, d.h.Ticket().Signed, seqs)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: ack: %w", home.ID, err))
			}
		}
	}
	for _, l := range res.lost {
		if err := d.askResend(l.sender, l.ids); err != nil {
			errs = append(errs, err)
		}
	}
	for route, ids := range res.receipts {
		for len(ids) > 0 {
			n := min(len(ids), maxReceiptIDs)
			if err := d.Enqueue(route, &wire.Payload{Kind: &wire.Payload_Receipt{Receipt: &wire.Receipt{Ids: ids[:n]}}}, nil); err != nil {
				errs = append(errs, err)
			}
			ids = ids[n:]
		}
	}
	return errors.Join(errs...)
}

// mailDial bounds the connection to each place our mail may wait: some of
// them are supernodes we saw fail or that left the registry's list, and
// one that does not answer must not hold up the others' mail.
const mailDial = 5 * time.Second

// connectHomes connects to homes at once, each within mailDial, and
// returns those it reached, in homes' order, and why the others failed.
func (d *Delivery) connectHomes(ctx context.Context, homes []peer.AddrInfo) ([]peer.AddrInfo, []error) {
	errs := make([]error, len(homes))
	var wg sync.WaitGroup
	for i, home := range homes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, mailDial)
			defer cancel()
			errs[i] = d.route.Connect(cctx, home)
		}()
	}
	wg.Wait()
	var reached []peer.AddrInfo
	var failed []error
	for i, home := range homes {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		reached = append(reached, home)
	}
	return reached, failed
}

// lostMail is a sending device's mail that no session of ours opened.
type lostMail struct {
	sender *ticket.Ticket
	ids    []string
}

// drained is what applying a drain leaves to answer: receipts per route
// of the sender (receipt) for chat messages, and per sending device the envelopes no session of
// ours opened.
type drained struct {
	receipts map[string][]string
	lost     map[peer.ID]*lostMail
}

// applyMail runs the security and process stages on the opened items of
// one drain, in order. An envelope applied once is never applied again: a
// home may hand the same item out twice (a malicious one on purpose), and
// only the ratchet refuses its own duplicates, not v1 boxes; so every
// envelope that opened is remembered (store.ScopeMail, for
// wire.SeenRetention — openMail refuses items sealed longer ago than the
// mail TTL) and skipped when it comes again. Envelopes that did not open
// are not remembered: the sender resends them under the same ID.
//
// The sessions' new states, the chat messages and that record are written
// in one transaction, before anything is acknowledged. A session stored
// before the messages its keys opened (as when each opening stored its
// session at once) lost the whole backlog to a kill in between: fetched
// again, every item was a repeat of a key already used, and dropped.
func (d *Delivery) applyMail(pending []mailEntry) (drained, error) {
	res := drained{receipts: map[string][]string{}, lost: map[peer.ID]*lostMail{}}
	lose := func(e mailEntry) {
		l := res.lost[e.sender.Peer]
		if l == nil {
			l = &lostMail{sender: e.sender}
			res.lost[e.sender.Peer] = l
		}
		l.ids = append(l.ids, e.env.Id)
	}
	// Chat messages of a backlog are stored together: one transaction (one
	// fsync) for all of them. Should that fail, nothing is acknowledged, so
	// the homes keep the mail for the next drain.
	var batch []store.Message
	var applied []string
	var opened []peer.ID // devices whose sessions opened something
	for _, e := range pending {
		key := e.sender.Username + "/" + e.env.Id
		seen, err := d.h.Store().Seen(store.ScopeMail, key)
		if err != nil {
			return res, err
		}
		if seen {
			d.h.Log().Info("dropping mail applied before", "from", e.sender.Username, "id", e.env.Id)
			continue
		}
		p, err := d.openWith(d.keys.OpenDirect, e.sender, e.env)
		switch {
		case errors.Is(err, payload.ErrSessionReset):
			lose(e) // asked for again, not dropped
			continue
		case errors.Is(err, ratchet.ErrDuplicate):
			// Its key was used, yet the record above does not have it:
			// the state that used it was stored without what it opened
			// (a session written for a message we sent meanwhile, then a
			// crash). A chat message in the history was applied (its
			// receipt may not have gone); any other is asked for again.
			if m, err := d.h.Store().Message(e.env.Id); err == nil && m.Peer == e.sender.Username && !m.Outgoing {
				d.receipt(&res, e)
				applied = append(applied, key)
			} else {
				d.h.Log().Info("mail whose key was used but not applied: asking for it again", "from", e.sender.Username, "id", e.env.Id)
				lose(e)
			}
			continue
		}
		if err == nil {
			if !slices.Contains(opened, e.sender.Peer) {
				opened = append(opened, e.sender.Peer)
			}
			applied = append(applied, key)
			err = d.h.Process(e.sender, e.env.Id, e.order, p, &batch)
		}
		if err != nil {
			d.h.Log().Info("dropping mail", "from", e.sender.Username, "id", e.env.Id, "err", err)
			continue
		}
		if p.GetChat() != nil {
			d.receipt(&res, e)
		}
	}
	// Remembered with the batch, before anything is acknowledged: a crash
	// before the commit applies every item again when its home hands it out
	// again (the sessions are as they were); never loses one.
	now := d.h.Now()
	st := d.h.Store()
	inserted := make([]bool, len(batch))
	op, err := st.IncomingOp(batch, inserted)
	var pend *store.Pending
	if err == nil {
		pend, err = d.keys.Persist(opened, op, st.SeenOp(store.ScopeMail, applied, now))
	}
	if err == nil {
		err = pend.Wait()
	}
	if err != nil {
		return res, fmt.Errorf("storing mailed messages: %w", err)
	}
	for i, m := range batch {
		if inserted[i] {
			msg := d.h.Message(m)
			d.h.Emit(api.Event{Message: &msg})
		}
	}
	if now.Sub(d.mail.forgot) > forgetEvery {
		if _, err := st.ForgetSeen(now.Add(-wire.SeenRetention)); err != nil {
			d.h.Log().Warn("forgetting expired seen items", "err", err)
		} else {
			d.mail.forgot = now
		}
	}
	return res, nil
}

// receipt notes that the chat message e is applied, for a receipt to its
// sender. The receipt goes to the device that sent it when the sender's
// account lists several (the message waits for it in that device's
// history: another device of the account would not know it); a copy from
// another device of ours gets none (it marks nothing delivered).
func (d *Delivery) receipt(res *drained, e mailEntry) {
	u := e.sender.Username
	if u == d.h.Ticket().Username {
		return
	}
	to := u
	if theirs, _ := d.h.Fanout(u); len(theirs) > 1 {
		to = DeviceRoute(u, e.sender.Peer)
	}
	res.receipts[to] = append(res.receipts[to], e.env.Id)
}

// orderMail puts each sender's items in its outbox order; senders keep the
// order in which their first item was fetched.
func orderMail(pending []mailEntry) {
	first := map[string]int{}
	for i, e := range pending {
		if _, ok := first[e.sender.Username]; !ok {
			first[e.sender.Username] = i
		}
	}
	slices.SortStableFunc(pending, func(a, b mailEntry) int {
		if c := cmp.Compare(first[a.sender.Username], first[b.sender.Username]); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
}

// mailEntry is a mailbox item opened down to its envelope.
type mailEntry struct {
	sender *ticket.Ticket
	env    *wire.Envelope
	order  uint64
}

// openMail opens one mailbox item's anonymous outer layer and
// authenticates the sender's ticket as it was when the item was left (at
// stored): signed by our auth server, valid then, not revoked now. The
// envelope inside is then opened as if it had come over a direct stream
// from the sender: only a session with the ticket's device opens it.
func (d *Delivery) openMail(item []byte, stored time.Time) (mailEntry, error) {
	padded, err := d.keys.OpenAnonymous(item)
	if err != nil {
		return mailEntry{}, err
	}
	raw, err := client.Unpad(padded)
	if err != nil {
		return mailEntry{}, err
	}
	var mi wire.MailItem
	if err := proto.Unmarshal(raw, &mi); err != nil {
		return mailEntry{}, fmt.Errorf("mail item: %w", err)
	}
	if mi.Envelope == nil {
		return mailEntry{}, errors.New("mail item without envelope")
	}
	// A mailbox keeps an item wire.MailTTL at most: one said to be older
	// was kept past it (a home with a wrong clock, or one lying about when
	// it took the item to pass an old ticket off as valid then).
	if d.h.Now().Sub(stored) > wire.MailTTL {
		return mailEntry{}, fmt.Errorf("%w: left at %v, longer ago than mail is kept", ErrStaleMail, stored)
	}
	// The sender's sealing time cannot be changed by the home (it cannot
	// open the item): an item sealed longer ago than mail lives is one a
	// home kept and hands out again, and the record of what we applied
	// (wire.SeenRetention) would no longer refuse it.
	if mi.SealedUnixMilli == 0 {
		// Sealed by a release from before sealing times. Such mail can sit
		// in a mailbox for one mail TTL after the upgrade, so it is taken
		// until legacyMailUntil (its replays meanwhile are refused by the
		// record of what we applied, kept longer than that) and never after.
		if !d.h.Now().Before(legacyMailUntil) {
			return mailEntry{}, fmt.Errorf("%w: no sealing time", ErrStaleMail)
		}
	} else {
		sealed := time.UnixMilli(mi.SealedUnixMilli)
		if now := d.h.Now(); now.Sub(sealed) > wire.MailTTL+wire.MaxClockSkew || sealed.Sub(now) > wire.MaxClockSkew {
			return mailEntry{}, fmt.Errorf("%w: sealed at %v", ErrStaleMail, sealed)
		}
	}
	t, err := d.auth.AuthenticateAt(mi.Sender, stored)
	if err != nil {
		return mailEntry{}, fmt.Errorf("mail sender: %w", err)
	}
	if len(t.BoxKey) != e2e.BoxKeySize {
		return mailEntry{}, errors.New("mail sender's ticket has no box key")
	}
	if err := d.h.AdmitDevice(t, mi.Devices); err != nil {
		return mailEntry{}, fmt.Errorf("mail sender: %w", err)
	}
	return mailEntry{sender: t, env: mi.Envelope, order: mi.Order}, nil
}

// receiveReceipt marks our messages to from delivered.
func (d *Delivery) receiveReceipt(from string, r *wire.Receipt) error {
	if len(r.Ids) > maxReceiptIDs {
		return payload.ErrBadRequest
	}
	for _, id := range r.Ids {
		// A message sent to each of the contact's devices went to this one
		// under a fan-out ID: the receipt names it so, and delivers the
		// message.
		id = store.FanoutMessageID(id)
		changed, err := d.h.Store().MarkDelivered(from, id)
		if err != nil {
			return err
		}
		if changed {
			d.h.Emit(api.Event{Delivered: &api.Delivery{ID: id, To: from}})
		}
	}
	return nil
}

// askResend asks a contact to send again the mailed envelopes ids, which no
// session of ours opened: our session with that device is gone or behind
// (a restore, a crash at the wrong moment). Nothing authenticated them —
// they may as well be junk that anyone put in our mailbox under the
// contact's public ticket — so nothing of ours changes: no session is
// dropped and no prekey fetched. The request is sealed without a session
// (v1, signed by our device key) so that it opens whatever the contact's
// session state; the contact, which knows which of those IDs it really
// sent, starts a new session for the answer (receiveResendRequest).
func (d *Delivery) askResend(t *ticket.Ticket, ids []string) error {
	if !d.h.Accepted(t.Username) {
		return nil
	}
	d.h.Log().Info("mail no session of ours opens: asking for it again", "from", t.Username, "items", len(ids))
	for len(ids) > 0 {
		n := min(len(ids), maxReceiptIDs)
		p := &wire.Payload{Kind: &wire.Payload_ResendRequest{ResendRequest: &wire.ResendRequest{Ids: ids[:n]}}}
		if err := d.enqueue(t.Username, store.OutboxEntry{ID: wire.NewID(), Sessionless: true}, p, nil); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// receiveResendRequest queues again our messages to from that it could not
// open: only chat messages of ours to that contact still waiting for their
// receipt, each under its own ID (so a copy that did arrive is not shown
// twice) and its own time. The request is authenticated (it opened, from
// the device dev), and naming messages we did send it, it shows that
// device lost our session: ours with it is dropped, so the resent messages
// start a new one it can open. A request naming none of ours (the contact
// was sent junk in our name) changes nothing.
//
// A conversation event we passed on to that member (its ID a
// store.FanoutID) goes again exactly as it went, from what the store kept
// of it: the members check its author's signature, signing time and
// ticket, so it cannot be made again — and we may only have passed it on.
func (d *Delivery) receiveResendRequest(from string, dev peer.ID, r *wire.ResendRequest) error {
	if len(r.Ids) > maxReceiptIDs {
		return payload.ErrBadRequest
	}
	var resend, toDevice []store.Message
	var events []store.OutboxEntry
	route := DeviceRoute(from, dev)
	for _, id := range r.Ids {
		if mid := store.FanoutMessageID(id); mid != id {
			if raw, err := d.h.Store().FanoutSent(id, from); err == nil {
				events = append(events, store.OutboxEntry{ID: id, Peer: from, Payload: raw, Created: d.h.Now()})
			} else if raw, err := d.h.Store().FanoutSent(id, route); err == nil {
				// An event passed on to each of the member's devices: this
				// device's copy, again to it.
				events = append(events, store.OutboxEntry{ID: id, Peer: route, Payload: raw, Created: d.h.Now()})
			} else if id == store.FanoutID(mid, route) {
				// A chat message we sent to each of the contact's devices,
				// this device's copy: again to that device, whatever the
				// others did with theirs.
				if m, err := d.h.Store().Message(mid); err == nil && m.Outgoing && m.Peer == from {
					toDevice = append(toDevice, m)
				}
			}
			continue
		}
		m, err := d.h.Store().Message(id)
		if err != nil || !m.Outgoing || m.Peer != from || m.State != string(api.StateQueued) {
			continue
		}
		resend = append(resend, m)
	}
	if len(resend) == 0 && len(events) == 0 && len(toDevice) == 0 {
		return nil
	}
	if err := d.keys.Reset(dev); err != nil {
		return err
	}
	for _, e := range events {
		if _, err := d.h.Store().Enqueue(nil, e); err != nil {
			continue // still in the outbox: it goes anyway
		}
	}
	for _, m := range resend {
		d.resendChat(m, m.ID, from)
	}
	for _, m := range toDevice {
		d.resendChat(m, store.FanoutID(m.ID, route), route)
	}
	d.Poke(from)
	if len(toDevice) > 0 || slices.ContainsFunc(events, func(e store.OutboxEntry) bool { return e.Peer == route }) {
		d.Poke(route)
	}
	return nil
}

// resendChat queues our chat message m again as outbox entry id on route,
// made again from the history. Its first position goes with it: queued
// again, its envelope's is a later one (order.go in node/store). An entry
// still in the outbox goes anyway.
func (d *Delivery) resendChat(m store.Message, id, route string) {
	order, _ := d.h.Store().OutgoingOrder(m.Peer, m.ID)
	p := &wire.Payload{SentUnixMilli: m.Time.UnixMilli(), Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: m.Text, Order: order}}}
	raw, err := proto.Marshal(p)
	if err != nil {
		return
	}
	if _, err := d.h.Store().Enqueue(nil, store.OutboxEntry{ID: id, Peer: route, Payload: raw, Created: d.h.Now()}); err != nil {
		d.h.Log().Debug("queueing a message again", "id", id, "err", err)
	}
}
