package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// node is one eserver-node daemon in a LAN, with its account.
type node struct {
	i, lan         int
	dev            int // 0: the account's first device; 1: its second (devices.go)
	user, pw, prof string
	ns, log, bin   string
	verbose        bool          // debug logging (Config.Verbose)
	mail           *atomic.Int64 // shared by every node: messages that came by mail
	rooms          *roomLog      // what its daemons showed in rooms, across restarts
	// mu is held across a send and across an offline spell, so a node
	// sends only while it is up and goes offline between two sends.
	mu sync.Mutex
	d  *daemon // nil while down
	in bool    // signed in
	// live is d's process, for a kill that must not wait for mu (a send
	// in flight holds it); away is set while churn has the node offline.
	live atomic.Pointer[proc]
	away atomic.Bool
}

// start starts the daemon process (mu held).
func (n *node) start() error {
	argv := []string{n.bin, "--profile", n.prof, "--listen", "/ip4/0.0.0.0/tcp/0,/ip4/0.0.0.0/udp/0/quic-v1"}
	if n.verbose {
		argv = append(argv, "-v")
	}
	p, out, in, err := startProc(n.ns, append(argv, "daemon"), nil, n.log)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.user, err)
	}
	n.d = newDaemon(p, out, in, n.mail, n.rooms)
	n.live.Store(p)
	return nil
}

// down stops the daemon as a user quitting would (mu held).
func (n *node) down() {
	if n.d != nil {
		n.d.stop()
		n.d = nil
		n.in = false
		n.live.Store(nil)
	}
}

// signOut signs out as a user would, the daemon running on (mu held); a
// daemon that does not answer is stopped instead.
func (n *node) signOut(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.d.call(cctx, "logout", map[string]any{}, nil); err != nil {
		n.down()
		return
	}
	n.in = false
}

// up starts the daemon and signs in with the remembered server (mu held).
func (n *node) up(ctx context.Context) error {
	if n.d == nil {
		if err := n.start(); err != nil {
			return err
		}
	}
	if n.in {
		return nil
	}
	err := retry(ctx, 2*time.Minute, func(ctx context.Context) error {
		err := n.d.call(ctx, "login", map[string]any{"username": n.user, "password": n.pw}, nil)
		if err != nil && n.signedIn(ctx) {
			return nil // an earlier try timed out here but went through
		}
		return err
	})
	n.in = err == nil
	return err
}

// signedIn asks the daemon whether it is signed in as n's user (mu held).
func (n *node) signedIn(ctx context.Context) bool {
	var a struct{ Username string }
	return n.d.call(ctx, "account", map[string]any{}, &a) == nil && a.Username == n.user
}

func (s *run) startNodes(ctx context.Context) error {
	for i := range s.cfg.Nodes {
		lan := i%s.cfg.LANs + 1
		n := &node{i: i, lan: lan, user: fmt.Sprintf("user%d", i), pw: fmt.Sprintf("pw of user%d", i),
			prof: filepath.Join(s.dir, fmt.Sprintf("user%d", i)), ns: s.topo.LANNS(lan),
			log: filepath.Join(s.dir, fmt.Sprintf("user%d.log", i)), bin: filepath.Join(s.cfg.Bin, "eserver-node"), mail: &s.mail,
			rooms: &roomLog{}, verbose: s.cfg.Verbose}
		if err := n.start(); err != nil {
			return err
		}
		s.nodes = append(s.nodes, n)
	}
	return nil
}

// signUp registers every node's account and signs it in.
func (s *run) signUp(ctx context.Context) error {
	err := parallel(len(s.nodes), func(i int) error {
		n := s.nodes[i]
		n.mu.Lock()
		defer n.mu.Unlock()
		err := retry(ctx, time.Minute, func(ctx context.Context) error {
			err := n.d.call(ctx, "register", map[string]any{"server": s.authAddr(n.lan), "username": n.user, "password": n.pw}, nil)
			if re := (*RPCError)(nil); errors.As(err, &re) && re.Code == "username_taken" {
				return nil // an earlier try got through
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("registering %s: %w", n.user, err)
		}
		err = retry(ctx, time.Minute, func(ctx context.Context) error {
			err := n.d.call(ctx, "login", map[string]any{"server": s.authAddr(n.lan), "username": n.user, "password": n.pw}, nil)
			if err != nil && n.signedIn(ctx) {
				return nil // an earlier try timed out here but went through
			}
			return err
		})
		n.in = err == nil
		return err
	})
	if err == nil {
		s.logf("%d nodes signed up and in", len(s.nodes))
	}
	return err
}

// Pairs is the plan's contact pairs: every node in at least one, about
// 1.5 per node, no pair twice, drawn from rng.
func Pairs(nodes int, rng interface{ IntN(int) int }) [][2]int {
	seen := map[[2]int]bool{}
	var ps [][2]int
	add := func(a, b int) {
		if a == b {
			return
		}
		k := [2]int{min(a, b), max(a, b)}
		if !seen[k] {
			seen[k] = true
			ps = append(ps, k)
		}
	}
	for a := range nodes {
		b := rng.IntN(nodes - 1)
		if b >= a {
			b++
		}
		add(a, b)
	}
	for tries := 0; len(ps) < nodes*3/2 && tries < nodes*10; tries++ {
		add(rng.IntN(nodes), rng.IntN(nodes))
	}
	return ps
}

// befriend makes the plan's pairs accepted contacts: a asks, b accepts.
// It polls listContacts rather than waiting for notifications, which it
// could miss.
func (s *run) befriend(ctx context.Context) error {
	s.pairs = Pairs(len(s.nodes), s.rngFor(2))
	relation := func(ctx context.Context, n *node, other string) (string, error) {
		var r struct {
			Contacts []struct{ Username, Relation string }
		}
		if err := n.d.call(ctx, "listContacts", map[string]any{}, &r); err != nil {
			return "", err
		}
		for _, c := range r.Contacts {
			if c.Username == other {
				return c.Relation, nil
			}
		}
		return "", nil
	}
	waitFor := func(ctx context.Context, n *node, other, want string) error {
		return retry(ctx, 2*time.Minute, func(ctx context.Context) error {
			rel, err := relation(ctx, n, other)
			if err == nil && rel != want {
				err = fmt.Errorf("%s sees %s as %q, want %q", n.user, other, rel, want)
			}
			return err
		})
	}
	// One pair at a time per node: a daemon answers in order anyway.
	var mu sync.Mutex
	busy := map[int]bool{}
	cond := sync.NewCond(&mu)
	err := parallel(len(s.pairs), func(i int) error {
		a, b := s.nodes[s.pairs[i][0]], s.nodes[s.pairs[i][1]]
		mu.Lock()
		for busy[a.i] || busy[b.i] {
			cond.Wait()
		}
		busy[a.i], busy[b.i] = true, true
		mu.Unlock()
		defer func() { mu.Lock(); busy[a.i], busy[b.i] = false, false; cond.Broadcast(); mu.Unlock() }()
		err := retry(ctx, time.Minute, func(ctx context.Context) error {
			return a.d.call(ctx, "addContact", map[string]any{"username": b.user}, nil)
		})
		if err != nil {
			return err
		}
		if err := waitFor(ctx, b, a.user, "pending-in"); err != nil {
			return err
		}
		if err := b.d.call(ctx, "acceptContact", map[string]any{"username": a.user}, nil); err != nil {
			return err
		}
		return waitFor(ctx, a, b.user, "accepted")
	})
	if err != nil {
		return fmt.Errorf("befriending: %w", err)
	}
	s.logf("%d contact pairs accepted", len(s.pairs))
	return nil
}

// churnNodes takes random nodes offline for 3–10 s each, one more every
// Period/4 (so several are often away at once), until ctx ends; messages
// sent to them meanwhile go to their mailboxes. A third of the spells
// begin with a graceful stop between two sends, a third with a SIGKILL of
// the daemon whenever it comes — in the middle of a send, too: a send that
// returned must survive it — and a third with a sign-out, the daemon
// running on. It returns the spells of each kind.
// A node away when ctx ends is brought back under runCtx (the whole
// run's), so an interrupt does not wait for its sign-in.
func (s *run) churnNodes(ctx, runCtx context.Context) (stops, kills, signOuts int) {
	rng := s.rngFor(3)
	drawn := 0
	t := time.NewTicker(s.cfg.Period / 4)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return stops, kills, signOuts
		case <-t.C:
		}
		// Draw all three every time, so the plan's sequence does not
		// depend on which nodes happened to be away.
		all := s.all()
		n := all[rng.IntN(len(all))]
		how := rng.IntN(3)
		if drawn < 3 {
			how = drawn // every kind early on, however short the run
		}
		drawn++
		kill, signOut := how == 0, how == 2
		off := time.Duration(3000+rng.IntN(7000)) * time.Millisecond
		if !n.away.CompareAndSwap(false, true) {
			continue
		}
		switch {
		case kill:
			kills++
		case signOut:
			signOuts++
		default:
			stops++
		}
		wg.Go(func() {
			defer n.away.Store(false)
			if kill {
				if p := n.live.Load(); p != nil {
					p.signal(syscall.SIGKILL)
				}
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			if signOut && n.d != nil {
				n.signOut(ctx)
			} else {
				n.down()
			}
			select {
			case <-ctx.Done():
			case <-time.After(off):
			}
			// Not ctx: bringing it back must finish even when the faults
			// stop meanwhile.
			upCtx, cancel := context.WithTimeout(runCtx, 3*time.Minute)
			defer cancel()
			if err := n.up(upCtx); err != nil {
				s.logf("bringing %s back: %v (tried again when healing)", n.user, err)
			}
		})
	}
}

// sent is what send returned, per direction of a conversation, in order.
type sentLog map[Conv][]string

// send sends the plan's messages: message k goes one way along a random
// pair, started at Rate; each node sends its own one at a time, so the
// order its sends return is the author's order.
func (s *run) send(ctx context.Context) (sentLog, int, map[string]int) {
	rng := s.rngFor(4)
	all := s.all() // the first devices, in s.nodes' order, then the second ones
	queues := make([]chan Conv, len(all))
	var mu sync.Mutex
	log := sentLog{}
	refused, refusedBy := 0, map[string]int{}
	var wg sync.WaitGroup
	for i := range all {
		queues[i] = make(chan Conv, s.cfg.Messages)
		wg.Go(func() {
			n := all[i]
			k := 0
			for c := range queues[i] {
				k++
				text := fmt.Sprintf(textMarker+"%s→%s #%d (seed %d)", c.From, c.To, k, s.cfg.Seed)
				var id string
				var err error
				if isRoom(c.To) {
					// Without textMarker: a public room's homes read it.
					text = fmt.Sprintf(roomTextMarker+"%s→%s #%d (seed %d)", c.From, c.To, k, s.cfg.Seed)
					id, err = n.sendRoom(ctx, roomName(c.To), text)
				} else {
					id, err = n.send(ctx, c.To, text)
				}
				mu.Lock()
				if err != nil {
					refused++
					why := refusal(c, err)
					refusedBy[why]++
					// The first few of each kind, with their words: a
					// count alone does not say what to look at.
					if refusedBy[why] <= refusalSamples {
						s.logf("%s→%s refused (%s): %v", c.From, c.To, why, err)
					}
				} else {
					log[c] = append(log[c], id)
				}
				mu.Unlock()
			}
		})
	}
	gap := time.Duration(float64(time.Second) / s.cfg.Rate)
	next := time.Now()
	for k := range s.cfg.Messages {
		// Drawn every time, so the plan does not depend on the groups.
		p := s.pairs[rng.IntN(len(s.pairs))]
		from, to := p[0], p[1]
		if rng.IntN(2) == 1 {
			from, to = to, from
		}
		inGroup, g, m := rng.IntN(groupShare) == 0, rng.IntN(1<<20), rng.IntN(1<<20)
		inRoom, rr, rm := rng.IntN(roomShare) == 0, rng.IntN(1<<20), rng.IntN(1<<20)
		onSecond := rng.IntN(2) == 1
		c := Conv{From: s.nodes[from].user, To: s.nodes[to].user}
		sender := from
		if t := s.twinOf(from); onSecond && t >= 0 {
			// An account on two devices writes from either.
			c.Dev, sender = 1, t
		}
		switch {
		case inGroup && len(s.groups) > 0:
			grp := s.groups[g%len(s.groups)]
			from = grp.members[m%len(grp.members)]
			c, sender = Conv{From: s.nodes[from].user, To: grp.id}, from
			if t := s.twinOf(from); onSecond && t >= 0 {
				c.Dev, sender = 1, t
			}
		case inRoom && !inGroup && len(s.rooms) > 0:
			r := s.rooms[rr%len(s.rooms)]
			from = r.Members[rm%len(r.Members)]
			c, sender = Conv{From: s.nodes[from].user, To: roomPrefix + r.Name}, from
		}
		queues[sender] <- c
		if k%100 == 99 {
			s.logf("%d messages started", k+1)
		}
		next = next.Add(gap)
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(next)):
		}
		if ctx.Err() != nil {
			break
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return log, refused, refusedBy
}

// send sends text to a contact or a conversation as n and returns its ID.
func (n *node) send(ctx context.Context, to, text string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.d == nil {
		return "", errNodeDown
	}
	var r struct {
		MessageID string `json:"messageId"`
	}
	cctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := n.d.call(cctx, "send", map[string]any{"to": to, "text": text}, &r); err != nil {
		return "", err
	}
	if r.MessageID == "" {
		return "", errors.New("send answered no messageId")
	}
	return r.MessageID, nil
}

// refusalSamples is how many refusals of each kind the log tells in full.
const refusalSamples = 3

// refusal is why a send to c was refused, for Result.RefusedBy.
func refusal(c Conv, err error) string {
	kind := "chat"
	if isRoom(c.To) {
		kind = "room"
	}
	var re *RPCError
	switch {
	case errors.Is(err, errNodeDown):
		return "node down"
	case errors.As(err, &re):
		return kind + " " + re.Code
	default:
		return kind + " other"
	}
}

// errNodeDown: the harness drew a sender that is away (stopped, killed or
// signed out) at the moment.
var errNodeDown = errors.New("node down")

// healProcesses brings every supernode and node back up.
func (s *run) healProcesses(ctx context.Context) error {
	for j, sn := range s.sns {
		if err := retry(ctx, time.Minute, func(context.Context) error { return sn.start() }); err != nil {
			return fmt.Errorf("healing supernode %d: %w", j, err)
		}
	}
	all := s.all()
	return parallel(len(all), func(i int) error {
		n := all[i]
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.up(ctx)
	})
}

// histMsg is a chat message as history shows it.
type histMsg struct {
	MessageID, From, Kind, State, Time string
}

// history is the chat messages from author (every one when author is
// empty) in n's history with peer, oldest first, all pages.
func (n *node) history(ctx context.Context, peer, author string) ([]histMsg, error) {
	var msgs []histMsg
	before := ""
	for {
		params := map[string]any{"with": peer, "limit": 1000}
		if before != "" {
			params["before"] = before
		}
		var r struct{ Messages []histMsg }
		if err := n.d.call(ctx, "history", params, &r); err != nil {
			return nil, err
		}
		var page []histMsg
		for _, m := range r.Messages {
			if (author == "" || m.From == author) && m.Kind == "" {
				page = append(page, m)
			}
		}
		msgs = append(page, msgs...)
		if len(r.Messages) < 1000 {
			return msgs, nil
		}
		before = r.Messages[0].MessageID
	}
}

func ids(ms []histMsg) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.MessageID)
	}
	return out
}

// settle polls every recipient's history until nothing sent is missing or
// Settle passes, and returns the final count; it describes every
// direction that is not clean, for whoever reads the progress lines.
func (s *run) settle(ctx context.Context, log sentLog) Counts {
	byUser := map[string]*node{}
	for _, n := range s.nodes {
		byUser[n.user] = n
	}
	deadline := time.Now().Add(s.cfg.Settle)
	sentOn := map[string]int{} // each message sent, and the device it was sent on
	for c, sent := range log {
		for _, id := range sent {
			sentOn[id] = c.Dev
		}
	}
	for {
		var total Counts
		type copyAt struct {
			c  Conv
			at string // the recipient
		}
		dirty := map[copyAt][]histMsg{}
		dirtyRooms := map[copyAt][]roomLine{}
		for c, sent := range log {
			if isRoom(c.To) {
				// A room's, in what every other member was shown.
				for _, to := range s.othersInRoom(roomName(c.To), c.From) {
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					got, err := byUser[to].roomShown(cctx, roomName(c.To), c.From)
					cancel()
					if err != nil {
						s.logf("room messages of %s in %s: %v", to, roomName(c.To), err)
					}
					cnt := Check(sent, roomIDs(got))
					if !cnt.Clean() {
						dirtyRooms[copyAt{c, to}] = got
					}
					total = total.Add(cnt)
				}
				continue
			}
			for _, r := range s.readers(c) {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				hist, err := r.at.history(cctx, r.with, c.From)
				cancel()
				if err != nil {
					s.logf("history of %s with %s: %v", r.at.name(), r.with, err)
				}
				// What the author's other device wrote to the same
				// contact is checked in its own direction.
				hist = slices.DeleteFunc(hist, func(m histMsg) bool { return sentOn[m.MessageID] != c.Dev })
				cnt := Check(sent, ids(hist))
				if !cnt.Clean() {
					dirty[copyAt{c, r.at.name()}] = hist
				}
				total = total.Add(cnt)
			}
		}
		if total.Lost == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			for k, hist := range dirty {
				s.describe(ctx, k.c, k.at, log[k.c], hist, s.devicesOf(k.c.From)[k.c.Dev])
			}
			for k, got := range dirtyRooms {
				s.describeRoom(k.c, k.at, log[k.c], got, byUser[k.c.From])
			}
			return total
		}
		s.logf("settling: %d of %d delivered", total.Delivered, total.Sent)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// reader is one device whose history shows a direction: at, in its
// conversation with.
type reader struct {
	at   *node
	with string
}

// readers is where c's messages must show: a contact's at each device of
// the recipient, in the conversation with the author; a conversation's at
// each device of every other member, in it; and either at the author's
// other device, as sent.
func (s *run) readers(c Conv) []reader {
	var out []reader
	with, own := c.From, c.To // where the recipients and the author's other device read it
	to := []string{c.To}
	if isGroup(c.To) {
		with, to = c.To, s.othersIn(c.To, c.From)
	}
	for _, u := range to {
		for _, d := range s.devicesOf(u) {
			out = append(out, reader{d, with})
		}
	}
	for _, d := range s.devicesOf(c.From) {
		if d.dev != c.Dev {
			out = append(out, reader{d, own})
		}
	}
	return out
}

// describe logs one direction that is not clean: what was sent (with its
// state and time at the author), and what the recipient has.
func (s *run) describe(ctx context.Context, c Conv, at string, sent []string, got []histMsg, author *node) {
	short := func(id string) string { return id[:min(8, len(id))] }
	mine := map[string]histMsg{}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	own, err := author.history(cctx, c.To, c.From)
	cancel()
	if err != nil {
		s.logf("%s→%s: the author's history: %v", c.From, c.To, err)
	}
	for _, m := range own {
		mine[m.MessageID] = m
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s→%s at %s: %v\n  sent (state, time at the author):", c.From, c.To, at, Check(sent, ids(got)))
	for _, id := range sent {
		m := mine[id]
		fmt.Fprintf(&b, " %s(%s %s)", short(id), m.State, m.Time)
	}
	b.WriteString("\n  recipient has:")
	have := map[string]bool{}
	for _, m := range got {
		fmt.Fprintf(&b, " %s(%s)", short(m.MessageID), m.Time)
		have[m.MessageID] = true
	}
	// What every process's log says of each message missing (its ID, or
	// a member's copy of it, ID~member), so that a loss explains itself
	// without keeping the run's directory.
	for _, id := range sent {
		if !have[id] {
			for _, line := range s.logLines(id, 12) {
				fmt.Fprintf(&b, "\n  %s: %s", short(id), line)
			}
		}
	}
	s.logf("%s", b.String())
}

// logLines is up to max lines, over every log file of the run, that name
// id, each prefixed with its file's name.
func (s *run) logLines(id string, max int) []string {
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, id) {
				if len(out) == max {
					return append(out, "…")
				}
				out = append(out, filepath.Base(f)+": "+line)
			}
		}
	}
	return out
}
