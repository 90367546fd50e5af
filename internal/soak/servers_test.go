package soak

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPlaintext: a server file holding a message's text is found; sealed
// bytes, other names and a file that vanished are not.
func TestPlaintext(t *testing.T) {
	dir := t.TempDir()
	s := &run{dir: dir}
	sn := &supernodeProc{profile: filepath.Join(dir, "op0"), log: filepath.Join(dir, "op0.log")}
	s.sns = []*supernodeProc{sn}
	files := map[string]string{
		"auth/auth.db":       "accounts of user1 and user2",
		"op0/mailbox.db":     "\x00\x01sealed\xff",
		"op0/mailbox.db-wal": "page … soak message user3→user7 #12 (seed 1) …",
		"op0.log":            "rendezvous user3→user7 online",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := s.plaintext()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "op0/mailbox.db-wal")}; !slices.Equal(bad, want) {
		t.Fatalf("plaintext in %v, want %v", bad, want)
	}
}

// TestMailItems counts the mail rows of real SQLite files and skips a
// server without a mailbox database.
func TestMailItems(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, rows int) string {
		p := filepath.Join(dir, name)
		db, err := sql.Open("sqlite3", p)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`PRAGMA journal_mode=WAL; CREATE TABLE mail (seq INTEGER PRIMARY KEY, item BLOB)`); err != nil {
			t.Fatal(err)
		}
		for range rows {
			if _, err := db.Exec(`INSERT INTO mail (item) VALUES (x'00')`); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	a, b := mk("a.db", 3), mk("b.db", 0)
	n, err := mailItems([]string{a, b, filepath.Join(dir, "none.db")})
	if err != nil || n != 3 {
		t.Fatalf("mailItems = %d, %v; want 3", n, err)
	}
	if _, err := mailItems([]string{filepath.Join(dir, "a.db-wal")}); err == nil {
		t.Fatal("a file without a mail table counted")
	}
	s := &run{cfg: Config{}, dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// drainMail gives up at its bound with what is left.
	s.sns = nil
	if left, err := s.drainMail(ctx, time.Millisecond); err != nil || left != 0 {
		t.Fatalf("no mailbox databases: %d left, %v", left, err)
	}
}

// TestOpenFDs: the count follows a descriptor opened and closed.
func TestOpenFDs(t *testing.T) {
	before, err := openFDs(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	during, _ := openFDs(os.Getpid())
	f.Close()
	if during != before+1 {
		t.Fatalf("descriptors %d, then %d with one more open", before, during)
	}
}

// TestResultClean: a run is clean only when nothing was lost and the
// servers passed every check; Missing names the fault kinds never
// injected.
func TestResultClean(t *testing.T) {
	ok := Result{Counts: Counts{Sent: 3, Delivered: 3}}
	for _, tc := range []struct {
		name string
		edit func(*Result)
		want bool
	}{
		{"clean", func(*Result) {}, true},
		{"lost", func(r *Result) { r.Lost = 1 }, false},
		{"mail left", func(r *Result) { r.Servers.MailLeft = 2 }, false},
		{"plaintext", func(r *Result) { r.Servers.Plaintext = []string{"x"} }, false},
		{"leak", func(r *Result) { r.Servers.Leaks = []string{"user1 holds 900"} }, false},
	} {
		r := ok
		tc.edit(&r)
		if r.Clean() != tc.want {
			t.Errorf("%s: Clean() = %v", tc.name, !tc.want)
		}
	}
	f := Faults{SupernodeKills: 2, NodeKills: 1, SignOuts: 1}
	if got := strings.Join(f.Missing(), ","); got != "node stop,partition" {
		t.Fatalf("missing %q", got)
	}
	if f.Total() != 5 {
		t.Fatalf("total %d", f.Total())
	}
	if !strings.Contains(ok.Line(), "mail left 0, plaintext at servers 0, leaks 0") {
		t.Fatalf("line %q", ok.Line())
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 87\ngo_goroutines_total{x=\"1\"} 5\nbad_metric x\n"
	for _, tc := range []struct {
		name    string
		want    int
		wantErr bool
	}{
		{"go_goroutines", 87, false},
		{"go_threads", 0, true},
		{"bad_metric", 0, true},
	} {
		got, err := MetricValue(text, tc.name)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("MetricValue(%s) = %d, %v; want %d (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestGroupPlan: each group is an inviter and two distinct contacts of
// its, each inviter once; a plan without anyone with two contacts is
// empty.
func TestGroupPlan(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 6))
		pairs := Pairs(12, rng)
		contact := map[[2]int]bool{}
		for _, p := range pairs {
			contact[p] = true
			contact[[2]int{p[1], p[0]}] = true
		}
		plan := GroupPlan(12, pairs, 3, rng)
		if len(plan) != 3 {
			t.Fatalf("seed %d: %d groups, want 3", seed, len(plan))
		}
		inviters := map[int]bool{}
		for _, g := range plan {
			if g[1] == g[2] || !contact[[2]int{g[0], g[1]}] || !contact[[2]int{g[0], g[2]}] {
				t.Fatalf("seed %d: group %v: not an inviter and two of its contacts", seed, g)
			}
			if inviters[g[0]] {
				t.Fatalf("seed %d: %d invites twice", seed, g[0])
			}
			inviters[g[0]] = true
		}
	}
	if plan := GroupPlan(4, [][2]int{{0, 1}, {2, 3}}, 2, rand.New(rand.NewPCG(1, 1))); len(plan) != 0 {
		t.Fatalf("groups %v from pairs where no one has two contacts", plan)
	}
}

// TestDialInKeepsChildren: reaching into a namespace does not kill the
// harness's processes. They are started with Pdeathsig, which Linux
// delivers when the thread that forked them ends; a dial that left its
// thread to die in the namespace killed whatever that thread had started
// (a supernode, at the end of a CI run, as its metrics were read).
func TestDialInKeepsChildren(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	ns := fmt.Sprintf("sk-dial-%d", os.Getpid())
	if err := sh([][]string{{"ip", "netns", "add", ns}, {"ip", "-n", ns, "link", "set", "lo", "up"}}); err != nil {
		t.Skip("no network namespaces here: ", err)
	}
	t.Cleanup(func() { shAll([][]string{{"ip", "netns", "del", ns}}) })
	dir := t.TempDir()
	var procs []*proc
	for range 8 {
		p, out, in, err := startProc(ns, []string{"sleep", "60"}, nil, filepath.Join(dir, "sleep.log"))
		if err != nil {
			t.Fatal(err)
		}
		out.Close()
		in.Close()
		procs = append(procs, p)
		t.Cleanup(func() { p.kill(syscall.SIGKILL) })
		// Dials right after a start, as the soak's checks do: the dial's
		// goroutine tends to run on the thread that just forked.
		for range 4 {
			if c, err := dialIn(context.Background(), ns, "127.0.0.1:1"); err == nil {
				c.Close()
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // a signal's delivery
	for i, p := range procs {
		if st := p.state(); st != "running" {
			t.Errorf("process %d: %s after dials into its namespace", i, st)
		}
	}
	// Every dialing thread came back out: all of the harness's threads
	// are in one namespace.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, task := range tasks {
		if l, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil {
			seen[l] = true
		}
	}
	if len(seen) != 1 {
		t.Errorf("the harness's threads are in %d network namespaces: %v", len(seen), seen)
	}
}
