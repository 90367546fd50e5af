package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"eserver/internal/pgtest"
	"eserver/node/pake"
)

// TestDatabaseOutage: PostgreSQL killed (SIGKILL) and restarted while
// clients register and log in at once. Every answer is a success or a
// clean "unreachable" refusal — no internal error, no hang; the outage
// is logged once when it starts and once when it ends; the server
// recovers by itself; no acknowledged account is lost, none is stored
// twice, and every one of them logs in after.
func TestDatabaseOutage(t *testing.T) {
	pg, err := pgtest.New()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := pg.Close(); err != nil {
			t.Error(err)
		}
	})
	db := pg.CreateDB(t)
	var logs syncBuffer
	f := startOn(t, db, &clock{t: time.Now()}, func(c *Config) {
		c.RegisterRate = -1
		c.Now = time.Now
		c.ReplicaHeartbeat = 100 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})

	const clients = 4
	var (
		mu       sync.Mutex
		acked    = map[string]bool{} // registrations the server confirmed
		tried    = map[string]bool{} // registrations refused unreachable: stored or not
		outcomes = map[string]int{}
	)
	note := func(what string, err error) string {
		var re refusedError
		switch {
		case err == nil:
			return what + " ok"
		case errors.As(err, &re):
			return what + " " + re.code
		default:
			t.Errorf("%s: %v (want success or a refusal)", what, err)
			return what + " error"
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				user := fmt.Sprintf("user%d-%d", c, i)
				l := newBenchLogin(t, f.srv, user, pake.NewServerShareClient)
				err := l.register("correct horse")
				o := note("register", err)
				var lo string
				if err == nil {
					_, _, lerr := l.login("correct horse")
					lo = note("login", lerr)
				}
				mu.Lock()
				outcomes[o]++
				if lo != "" {
					outcomes[lo]++
				}
				if err == nil {
					acked[user] = true
				} else {
					tried[user] = true
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // refused: a client would wait a moment
				}
			}
		})
	}
	time.Sleep(time.Second)
	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	// Until the server has taken new accounts again, and a while after.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		after := outcomes["register ok"]
		mu.Unlock()
		time.Sleep(2 * time.Second)
		mu.Lock()
		grew := outcomes["register ok"] > after
		mu.Unlock()
		if grew || time.Now().After(deadline) {
			break
		}
	}
	stop()
	wg.Wait()
	t.Logf("outcomes: %v", outcomes)
	for o := range outcomes {
		if !strings.HasSuffix(o, " ok") && !strings.HasSuffix(o, " "+CodeUnreachable) {
			t.Errorf("%d answers %q: want only successes and %q refusals", outcomes[o], o, CodeUnreachable)
		}
	}
	if outcomes["register "+CodeUnreachable]+outcomes["login "+CodeUnreachable] == 0 {
		t.Error("no request was refused while the database was down")
	}

	// Nothing acknowledged lost, nothing stored twice, nothing stored that
	// was never asked for.
	st := f.srv.store.(*sqlStore)
	rows, err := st.db.Query("SELECT username, count(*) FROM accounts GROUP BY username")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var u string
		var n int
		if err := rows.Scan(&u, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s stored %d times", u, n)
		}
		stored[u] = true
	}
	rows.Close()
	for u := range acked {
		if !stored[u] {
			t.Errorf("%s: registration acknowledged, account lost", u)
		}
	}
	for u := range stored {
		if !acked[u] && !tried[u] {
			t.Errorf("%s stored, never registered", u)
		}
	}
	// Every acknowledged account logs in now.
	for u := range acked {
		if _, _, err := newBenchLogin(t, f.srv, u, pake.NewServerShareClient).login("correct horse"); err != nil {
			t.Errorf("%s after the outage: %v", u, err)
		}
	}

	// Said once each way, and counted.
	time.Sleep(300 * time.Millisecond) // a heartbeat after the last request
	out := logs.String()
	if n := strings.Count(out, "the database is unreachable"); n != 1 {
		t.Errorf("the outage's start logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "the database answers again"); n != 1 {
		t.Errorf("the outage's end logged %d times, want once:\n%s", n, out)
	}
	if s := f.srv.Stats(); s.DatabaseOutages != 1 || s.DatabaseDown {
		t.Errorf("stats: %d outages, down %v; want 1, false", s.DatabaseOutages, s.DatabaseDown)
	}
}
