package supernode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/encoding/protowire"

	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// Defaults for the zero values of MailboxConfig, and the sweeper's period.
const (
	DefaultMailPutRate  = rate.Limit(20)
	DefaultMailPutBurst = 200
	MailSweepInterval   = 5 * time.Minute
	// SupernodesRefresh is how often the mailbox asks for the live
	// supernodes, as often as nodes refresh the list they home by.
	SupernodesRefresh = 10 * time.Second
	// MailHomeWindow is how far down a mailbox's home order this supernode
	// may be and still take its mail (wire.MailHomeWindow: nodes fetch
	// their mail from as far down). Random mailbox IDs then land here with
	// odds MailHomeWindow/supernodes.
	MailHomeWindow = wire.MailHomeWindow
)

// MailboxConfig configures a Mailbox. Zero values are documented defaults.
type MailboxConfig struct {
	// DBPath is the SQLite file holding the items; it is created if missing.
	DBPath string
	// Revocations, if set, refuses tickets of revoked devices even
	// before they expire; nil revokes none.
	Revocations *client.Revocations
	// AuthServer is the auth server whose tickets are accepted.
	AuthServer peer.ID
	// TTL is how long an unacknowledged item is kept; zero means
	// wire.MailTTL (30 days).
	TTL time.Duration
	// Quota is the most live items one mailbox holds; zero means
	// wire.MailboxQuota.
	Quota int
	// QuotaBytes is the most bytes of live items one mailbox holds; zero
	// means wire.MailboxQuotaBytes.
	QuotaBytes int64
	// Now is the clock for tickets, item ages and rate limits; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives per-stream diagnostics; nil discards them.
	Logger *slog.Logger
	// PutRate and PutBurst bound the puts of one sender (account); zero
	// means 20 per second with bursts of 200.
	PutRate  rate.Limit
	PutBurst int
	// Supernodes returns the live supernodes (the registry's list), so the
	// mailbox can tell which mailboxes it is a home of; it is called at
	// start and every SupernodesRefresh, never on a request's path. Nil,
	// an error before the first answer, or an empty list accepts mail for
	// any mailbox: a supernode that does not know the others cannot tell.
	Supernodes func(context.Context) ([]peer.ID, error)
	// MaxBytes bounds the bytes all mailboxes together hold (items plus a
	// per-item overhead); zero means CapsFor(0).MailBytes.
	MaxBytes int64
	// SenderBytes bounds what one sender (account) may leave here per TTL:
	// a token bucket of this many bytes that refills at this many per
	// TTL; zero means CapsFor(0).MailSenderBytes.
	SenderBytes int64
}

// Mailbox serves wire.ProtoMailbox: store-and-forward of sealed items for
// offline recipients. Any ticket holder may put an item into any mailbox
// homed here, within per-sender rates and byte budgets, per-mailbox quotas
// and the cap on all mailboxes together; only the owner may fetch and
// acknowledge. A ticket owns two mailboxes: its account's
// (client.MailboxID of its username), which every device of the account
// drains, and its device's (client.DeviceMailboxID of its username and
// peer), which only that device does. A fetch answers from both in one seq
// order (seqs are one sequence over all mailboxes), and an ack deletes
// from both and no other. Each is a mailbox like any other: its own
// quotas, its own notifications. The supernode sees a mailbox ID, a padded
// size and an arrival time; it never stores who sent an item, nor which
// account a device mailbox belongs to. Items live in SQLite until
// acknowledged or TTL old.
type Mailbox struct {
	cfg MailboxConfig
	log *slog.Logger
	db  *mailDB // with its group commit of puts and acks

	senders mailSenders
	homes   mailHomes
	owners  mailOwners

	listen *pipeline.Listener
	rpc    *pipeline.Service[*wire.MailboxRequest, *wire.MailboxResponse]
	bg     mailBackground

	stats mbStats // counters for Stats (metrics.go)
}

// mailSenders are the per-sender (account) limits on puts.
type mailSenders struct {
	lim   *buckets // puts
	bytes *buckets // bytes put, refilled over the TTL
}

// mailHomes is the live supernodes as MailboxConfig.Supernodes last said;
// sns nil: unknown.
type mailHomes struct {
	mu  sync.Mutex
	sns []peer.ID
}

// mailOwners remembers, per mailbox, the peer that last fetched it, so a
// put can tell that owner to fetch at once if it is connected (notify). A
// fetch names both of its mailboxes: the account's maps to the device of
// the account that fetched last (one is enough: whichever device fetches
// takes the item), the device's to the one device it can belong to.
type mailOwners struct {
	mu        sync.Mutex
	m         map[string]peer.ID
	notifiers chan struct{} // bounds notifications in flight
}

// mailBackground is the sweeper and the refresher of the live supernodes:
// they run until stop is cancelled; swept and refreshed are closed when
// they end.
type mailBackground struct {
	stop      context.CancelFunc
	swept     chan struct{}
	refreshed chan struct{}
}

// maxOwners bounds the owners map, two entries per fetching device; past
// it, the map starts over (owners fetch again on their next poll, so
// nothing is lost but a hint).
const maxOwners = 200_000

// NewMailbox opens the database at cfg.DBPath and starts the sweeper of
// expired items; Attach it to a host to serve, Close it to stop.
func NewMailbox(cfg MailboxConfig) (*Mailbox, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = wire.MailTTL
	}
	if cfg.Quota <= 0 {
		cfg.Quota = wire.MailboxQuota
	}
	if cfg.QuotaBytes <= 0 {
		cfg.QuotaBytes = wire.MailboxQuotaBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PutRate <= 0 {
		cfg.PutRate = DefaultMailPutRate
	}
	if cfg.PutBurst <= 0 {
		cfg.PutBurst = DefaultMailPutBurst
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = CapsFor(0).MailBytes
	}
	if cfg.SenderBytes <= 0 {
		cfg.SenderBytes = CapsFor(0).MailSenderBytes
	}
	// The largest item must fit in a full bucket, or a sender could never
	// put one.
	cfg.SenderBytes = max(cfg.SenderBytes, wire.MaxMailItem)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthServer == "" {
		return nil, errors.New("mailbox: no auth server configured")
	}
	db, err := openMailDB(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("mailbox: opening %s: %w", cfg.DBPath, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Mailbox{
		cfg: cfg,
		log: log.With("service", "mailbox"),
		db:  db,
		senders: mailSenders{
			lim:   newBuckets(cfg.PutRate, cfg.PutBurst),
			bytes: newBuckets(rate.Limit(float64(cfg.SenderBytes)/cfg.TTL.Seconds()), int(min(cfg.SenderBytes, math.MaxInt32))),
		},
		owners: mailOwners{notifiers: make(chan struct{}, 64)},
		bg:     mailBackground{stop: stop, swept: make(chan struct{}), refreshed: make(chan struct{})},
	}
	m.listen = pipeline.NewListener(m.log)
	m.rpc = &pipeline.Service[*wire.MailboxRequest, *wire.MailboxResponse]{
		Protocol:    wire.ProtoMailbox,
		MaxRequest:  wire.MaxMailboxFrame,
		Budget:      pipeline.NewServiceBudget(wire.MailboxBudget, wire.MaxMailboxFrame),
		Timeout:     wire.MailboxTimeout,
		Auth:        authenticator(cfg.AuthServer, cfg.Now, cfg.Revocations),
		Credentials: mailboxCredentials,
		Process:     m.process,
		Begin:       m.begin,
		Refuse:      refuseWith[*wire.MailboxRequest](mailFailed),
		Log:         m.log,
	}
	go m.sweeper(ctx)
	go m.refresher(ctx)
	return m, nil
}

// Attach serves the mailbox protocol on h until Close, both with one
// request per stream (wire.ProtoMailbox) and with several
// (wire.ProtoMailboxStream, wire.ProtoMailboxDevices): one handler serves
// all, as a client of the first sends one request and closes its side, and
// every version's fetches and acks cover both of the owner's mailboxes.
// Attaching after Close does nothing.
func (m *Mailbox) Attach(h host.Host) {
	// A one-request client sends its request at once: its stream gets
	// MailboxTimeout to start one, as before, not a kept stream's idle time.
	serveOn(m.listen, h, wire.ProtoMailbox, wire.MailboxTimeout, func(rw io.ReadWriter, remote peer.ID) error {
		return m.serveIdle(rw, remote, wire.MailboxTimeout)
	})
	serveOn(m.listen, h, wire.ProtoMailboxStream, wire.MailboxIdleTimeout, m.serve)
	// The same protocol: the version tells a client that device mailboxes
	// are kept here (wire.ProtoMailboxDevices).
	serveOn(m.listen, h, wire.ProtoMailboxDevices, wire.MailboxIdleTimeout, m.serve)
}

// Close stops serving on every attached host, resets the streams in flight,
// waits for their handlers and the sweeper to return, stops the group
// commit and closes the database. Items already acknowledged to their
// senders are on disk.
func (m *Mailbox) Close() error {
	if !m.listen.Close() {
		return nil
	}
	m.bg.stop()
	<-m.bg.swept
	<-m.bg.refreshed
	if err := m.db.close(); err != nil {
		return fmt.Errorf("mailbox: closing database: %w", err)
	}
	return nil
}

// Depth returns how many items the mailbox service stores in total,
// including expired ones the sweeper has not deleted yet.
func (m *Mailbox) Depth() (int, error) {
	n, err := m.db.depth(nil)
	if err != nil {
		return 0, fmt.Errorf("mailbox: %w", err)
	}
	return n, nil
}

// DepthOf returns how many items wait in one mailbox.
func (m *Mailbox) DepthOf(mailbox []byte) (int, error) {
	if len(mailbox) != client.MailboxIDSize {
		return 0, fmt.Errorf("mailbox: %w: mailbox ID of %d bytes", client.ErrBadRequest, len(mailbox))
	}
	n, err := m.db.depth(mailbox)
	if err != nil {
		return 0, fmt.Errorf("mailbox: %w", err)
	}
	return n, nil
}

// Sweep deletes the items older than the TTL and forgets idle per-sender
// limiters; it returns how many items it deleted. The sweeper calls it at
// start and every MailSweepInterval; expired items are never returned even
// before they are swept.
func (m *Mailbox) Sweep(ctx context.Context) (int, error) {
	now := m.cfg.Now()
	n, err := m.db.sweep(ctx, now.Add(-m.cfg.TTL))
	m.senders.lim.sweep(now)
	if err != nil {
		return int(n), fmt.Errorf("mailbox: sweep: %w", err)
	}
	return int(n), nil
}

// sweeper runs Sweep at start and then periodically until ctx ends.
func (m *Mailbox) sweeper(ctx context.Context) {
	runSweeper(ctx, MailSweepInterval, m.log, "expired mail", m.bg.swept, m.Sweep)
}

// refresher runs RefreshSupernodes at start and then every
// SupernodesRefresh until ctx ends.
func (m *Mailbox) refresher(ctx context.Context) {
	if m.cfg.Supernodes == nil {
		close(m.bg.refreshed)
		return
	}
	runSweeper(ctx, SupernodesRefresh, m.log, "supernode list", m.bg.refreshed, func(ctx context.Context) (int, error) {
		return 0, m.RefreshSupernodes(ctx)
	})
}

// RefreshSupernodes asks MailboxConfig.Supernodes for the live supernodes
// now; the refresher calls it periodically. A failed or empty answer keeps
// the list known before.
func (m *Mailbox) RefreshSupernodes(ctx context.Context) error {
	if m.cfg.Supernodes == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wire.RegistryTimeout)
	defer cancel()
	sns, err := m.cfg.Supernodes(ctx)
	if err != nil {
		return fmt.Errorf("mailbox: listing supernodes: %w", err)
	}
	if len(sns) == 0 {
		return nil
	}
	m.homes.mu.Lock()
	m.homes.sns = sns
	m.homes.mu.Unlock()
	return nil
}

// homed reports whether this supernode (any host it is attached to) is
// among the first MailHomeWindow homes of mailbox, by the supernodes it
// knows and itself; with none known, every mailbox is.
func (m *Mailbox) homed(mailbox []byte) bool {
	m.homes.mu.Lock()
	known := m.homes.sns
	m.homes.mu.Unlock()
	if len(known) == 0 {
		return true
	}
	hosts := m.listen.Hosts()
	sns := make([]peer.ID, 0, len(known)+len(hosts))
	sns = append(sns, known...)
	for _, h := range hosts {
		sns = append(sns, h.ID()) // duplicates count once
	}
	for _, id := range client.HomesFor(string(mailbox), sns, MailHomeWindow) {
		for _, h := range hosts {
			if h.ID() == id {
				return true
			}
		}
	}
	return false
}

// Usage returns the bytes all mailboxes hold, as counted against the
// global cap (with a per-item overhead), and that cap. It reads a counter
// row, so it is cheap; used is 0 if the database fails.
func (m *Mailbox) Usage() (used, limit int64) {
	used, err := m.db.usage()
	if err != nil {
		m.log.Warn("reading mailbox usage", "err", err)
		return 0, m.cfg.MaxBytes
	}
	return used, m.cfg.MaxBytes
}

// serve runs the requests from rw, sent by the authenticated remote peer,
// through the pipeline, at most wire.MailboxInFlight unanswered at once,
// answering each in order once its write is committed, until the peer
// closes its side or stays idle for wire.MailboxIdleTimeout. An error
// means the stream should be reset: a request could not be read, the
// store failed, or an answer could not be written. Requests that are
// refused (a bad one, a stranger's ticket) get their error code in their
// turn, and the stream goes on.
func (m *Mailbox) serve(rw io.ReadWriter, remote peer.ID) error {
	return m.serveIdle(rw, remote, wire.MailboxIdleTimeout)
}

// serveIdle is serve, ending the stream when no request began for idle.
func (m *Mailbox) serveIdle(rw io.ReadWriter, remote peer.ID, idle time.Duration) error {
	ctx := context.WithValue(m.listen.Context(), streamOrderKey{}, &streamOrder{})
	return m.rpc.ServePipelined(ctx, rw, remote, nil, pipeline.Pipelining{InFlight: wire.MailboxInFlight, Idle: idle})
}

// mailboxCredentials is what each request presents: its ticket.
func mailboxCredentials(req *wire.MailboxRequest) (pipeline.Credential, error) {
	switch k := req.GetKind().(type) {
	case *wire.MailboxRequest_Put:
		return pipeline.Ticket(k.Put.GetTicket()), nil
	case *wire.MailboxRequest_Fetch:
		return pipeline.Ticket(k.Fetch.GetTicket()), nil
	case *wire.MailboxRequest_Ack:
		return pipeline.Ticket(k.Ack.GetTicket()), nil
	}
	return pipeline.Credential{}, errUnknownKind
}

// process is the process stage for one authenticated request on a stream
// of its own.
func (m *Mailbox) process(ctx context.Context, r *pipeline.Request[*wire.MailboxRequest]) (*wire.MailboxResponse, error) {
	return m.begin(ctx, r)()
}

// begin is the process stage of a request on a pipelined stream, in two
// halves: it checks the request and queues its write (if any) for the group
// commit without waiting, in the stream's order; what it returns waits for
// the commit and answers. A fetch carrying an ack reads after the ack is
// committed, and every request after the writes before it on its stream:
// the answers run in order.
func (m *Mailbox) begin(ctx context.Context, r *pipeline.Request[*wire.MailboxRequest]) pipeline.Finish[*wire.MailboxResponse] {
	now := m.cfg.Now()
	t := r.Ticket
	switch k := r.Msg.GetKind().(type) {
	case *wire.MailboxRequest_Put:
		return m.beginPut(ctx, t, k.Put.GetMailbox(), k.Put.GetHome(), k.Put.GetItem(), now)
	case *wire.MailboxRequest_Fetch:
		boxes := m.ownedBy(t)
		m.rememberOwner(boxes, t.Peer)
		f := k.Fetch
		acked := m.beginAck(ctx, boxes, f.GetAck())
		read := fetchBegun(ctx)
		return func() (*wire.MailboxResponse, error) {
			defer read()
			if resp, err := acked(); err != nil || resp.GetError() != "" {
				return resp, err
			}
			return m.fetch(boxes, f.GetAfter(), f.GetLimit(), now)
		}
	default:
		return m.beginAck(ctx, m.ownedBy(t), r.Msg.GetAck().GetSeqs())
	}
}

// streamOrder keeps a pipelined stream's requests taking effect in the
// order sent. Writes queued one after another commit in that order by
// themselves, and a fetch reads only once every request before it is
// answered (its Finish runs in turn); but a write read after a fetch could
// commit before that fetch reads, and the fetch would not see what the
// client asked before the write. So a write waits, before it is queued, for
// the read of the last fetch begun before it. It is used only by the
// stream's reading goroutine.
type streamOrder struct {
	read chan struct{} // closed once the last fetch begun has read; nil: none
}

type streamOrderKey struct{}

// afterLastRead waits until the last fetch begun on ctx's stream has read.
func afterLastRead(ctx context.Context) error {
	o, _ := ctx.Value(streamOrderKey{}).(*streamOrder)
	if o == nil || o.read == nil {
		return nil
	}
	select {
	case <-o.read:
		o.read = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetchBegun records a fetch on ctx's stream and returns what to call once
// it has read.
func fetchBegun(ctx context.Context) (read func()) {
	o, _ := ctx.Value(streamOrderKey{}).(*streamOrder)
	if o == nil {
		return func() {}
	}
	ch := make(chan struct{})
	o.read = ch
	return func() { close(ch) }
}

// answered is a Finish with its answer already known.
func answered(resp *wire.MailboxResponse, err error) pipeline.Finish[*wire.MailboxResponse] {
	return func() (*wire.MailboxResponse, error) { return resp, err }
}

// ownedBy returns the mailboxes the ticket's holder owns: its account's
// and its device's.
func (m *Mailbox) ownedBy(t *ticket.Ticket) ownedBoxes {
	return ownedBoxes{
		client.MailboxID(m.cfg.AuthServer, t.Username),
		client.DeviceMailboxID(m.cfg.AuthServer, t.Username, t.Peer),
	}
}

// put stores one item and answers once it is committed.
func (m *Mailbox) put(ctx context.Context, sender *ticket.Ticket, mailbox, item []byte, now time.Time) (*wire.MailboxResponse, error) {
	return m.beginPut(ctx, sender, mailbox, nil, item, now)()
}

// beginPut checks one put and queues it for the next commit; the Finish
// answers once it is committed. The sender's ticket buys the right to put
// and selects the rate limit; it is not stored with the item. home, if
// set, is the mailbox whose homes the item belongs at (a device mailbox's
// account mailbox); nothing ties it to mailbox, which the supernode cannot
// check, and nothing needs to: where a mailbox is homed decides only where
// its owner looks, and anyone may put into a mailbox homed here anyway.
func (m *Mailbox) beginPut(ctx context.Context, sender *ticket.Ticket, mailbox, home, item []byte, now time.Time) pipeline.Finish[*wire.MailboxResponse] {
	if len(mailbox) != client.MailboxIDSize || len(item) == 0 || len(item) > wire.MaxMailItem ||
		(len(home) != 0 && len(home) != client.MailboxIDSize) {
		m.log.Debug("put refused", "peer", sender.Peer, "mailbox_len", len(mailbox), "home_len", len(home), "item_len", len(item))
		m.stats.bad.Add(1)
		return answered(mailFailed(wire.CodeBadRequest), nil)
	}
	if len(home) == 0 {
		home = mailbox
	}
	if !m.senders.lim.allow(sender.Username, now) {
		m.log.Debug("put rate limited", "peer", sender.Peer)
		m.stats.rateLimited.Add(1)
		return answered(mailFailed(wire.CodeRateLimited), nil)
	}
	// Only mail for mailboxes homed here: anything else nobody fetches
	// here, and random IDs would fill the disk.
	if !m.homed(home) {
		m.log.Debug("put for a mailbox homed elsewhere", "peer", sender.Peer)
		m.stats.notHome.Add(1)
		return answered(mailFailed(wire.CodeNotHome), nil)
	}
	// The sender's byte budget, taken back if the item is not stored.
	undo, ok := m.senders.bytes.take(sender.Username, now, int(mailCost(len(item))))
	if !ok {
		m.log.Debug("put over the sender's byte budget", "peer", sender.Peer)
		m.stats.senderBytes.Add(1)
		return answered(mailFailed(wire.CodeRateLimited), nil)
	}
	err := afterLastRead(ctx)
	var wait func() (uint64, error)
	if err == nil {
		wait, err = m.db.startPut(ctx, mailbox, item, now, now.Add(-m.cfg.TTL), m.cfg.Quota, m.cfg.QuotaBytes, m.cfg.MaxBytes)
	}
	if err != nil {
		undo()
		return answered(nil, fmt.Errorf("storing item: %w", err))
	}
	return func() (*wire.MailboxResponse, error) {
		seq, err := wait()
		if err != nil {
			undo()
		}
		if errors.Is(err, errOverQuota) {
			m.stats.overQuota.Add(1)
			return mailFailed(wire.CodeQuota), nil
		}
		if errors.Is(err, errStoreFull) {
			m.log.Debug("put refused: mailboxes full", "peer", sender.Peer)
			m.stats.full.Add(1)
			return mailFailed(wire.CodeFull), nil
		}
		if err != nil {
			return nil, fmt.Errorf("storing item: %w", err)
		}
		m.stats.stored.Add(1)
		m.notify(mailbox)
		return &wire.MailboxResponse{Seq: seq}, nil
	}
}

// rememberOwner records that owner fetched boxes, for notify.
func (m *Mailbox) rememberOwner(boxes ownedBoxes, owner peer.ID) {
	m.owners.mu.Lock()
	defer m.owners.mu.Unlock()
	if m.owners.m == nil || len(m.owners.m)+len(boxes) > maxOwners {
		m.owners.m = map[string]peer.ID{}
	}
	for _, b := range boxes {
		m.owners.m[string(b)] = owner
	}
}

// notify tells the mailbox's owner, if it is connected to us, that mail
// came: it fetches at once instead of at its next poll. Best effort, bounded.
func (m *Mailbox) notify(mailbox []byte) {
	m.owners.mu.Lock()
	owner, ok := m.owners.m[string(mailbox)]
	m.owners.mu.Unlock()
	if !ok {
		return
	}
	for _, h := range m.listen.Hosts() {
		if h.Network().Connectedness(owner) != network.Connected {
			continue
		}
		select {
		case m.owners.notifiers <- struct{}{}:
		default:
			return // too many in flight: the owner's poll will do
		}
		started := m.listen.Go(func(ctx context.Context) {
			defer func() { <-m.owners.notifiers }()
			ctx, cancel := context.WithTimeout(ctx, wire.MailNotifyTimeout)
			defer cancel()
			s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "mail-notify"), owner, wire.ProtoMailNotify)
			if err != nil {
				m.log.Debug("mail notify", "peer", owner, "err", err)
				return
			}
			s.Close()
		})
		if !started {
			<-m.owners.notifiers
		}
		return
	}
}

// fetch returns the owner's next items from both its mailboxes, in one seq
// order, as many as fit in one frame.
func (m *Mailbox) fetch(boxes ownedBoxes, after uint64, limit uint32, now time.Time) (*wire.MailboxResponse, error) {
	n := wire.MailFetchLimit
	if limit > 0 && limit < uint32(n) {
		n = int(limit)
	}
	// The answer's fields besides items: "more" takes 2 bytes.
	budget := wire.MaxMailboxFrame - 2
	rows, more, err := m.db.fetch(context.Background(), boxes, after, now.Add(-m.cfg.TTL), n, budget, storedMailCost)
	if err != nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	resp := &wire.MailboxResponse{More: more, Items: make([]*wire.StoredMail, 0, len(rows))}
	for _, r := range rows {
		resp.Items = append(resp.Items, &wire.StoredMail{Seq: r.seq, Item: r.item, StoredUnix: r.stored.Unix()})
	}
	m.stats.fetchAnswered(len(resp.Items))
	return resp, nil
}

// storedMailCost is an upper bound on the bytes one StoredMail of an n-byte
// item adds to a MailboxResponse: the field tag and length, and inside it the
// seq (at most 10 bytes plus tag), the item (tag, length, bytes) and the time
// (at most 10 bytes plus tag).
func storedMailCost(n int) int {
	inner := 1 + protowire.SizeVarint(1<<63) + // seq
		1 + protowire.SizeVarint(uint64(n)) + n + // item
		1 + protowire.SizeVarint(1<<63) // stored_unix
	return 1 + protowire.SizeVarint(uint64(inner)) + inner
}

// ack deletes the owner's acknowledged items and answers once the deletes
// are committed.
func (m *Mailbox) ack(ctx context.Context, owner *ticket.Ticket, seqs []uint64) (*wire.MailboxResponse, error) {
	return m.beginAck(ctx, m.ownedBy(owner), seqs)()
}

// beginAck queues the deletes of acknowledged items of boxes (an owner's)
// for the next commit; the Finish answers once they are committed. Seqs of
// other mailboxes are ignored, so no one can delete mail they cannot read.
func (m *Mailbox) beginAck(ctx context.Context, boxes ownedBoxes, seqs []uint64) pipeline.Finish[*wire.MailboxResponse] {
	if len(seqs) > client.MaxMailAck {
		return answered(mailFailed(wire.CodeBadRequest), nil)
	}
	if len(seqs) == 0 {
		return answered(&wire.MailboxResponse{}, nil)
	}
	err := afterLastRead(ctx)
	var wait func() (int64, error)
	if err == nil {
		wait, err = m.db.startAck(ctx, boxes, seqs)
	}
	if err != nil {
		return answered(nil, fmt.Errorf("acknowledging: %w", err))
	}
	return func() (*wire.MailboxResponse, error) {
		n, err := wait()
		if err != nil {
			return nil, fmt.Errorf("acknowledging: %w", err)
		}
		m.stats.acked.Add(uint64(n))
		return &wire.MailboxResponse{}, nil
	}
}

func mailFailed(code string) *wire.MailboxResponse {
	return &wire.MailboxResponse{Error: code}
}
