package authserver

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"eserver/node/pake"
)

// BenchmarkAuthEngines is the auth server's throughput on each engine,
// in one run: "sqlite" (one server, one file), "postgres" (one replica)
// and "postgres-2" (two replicas — two Servers — on one database, each
// request going to the next replica in turn). For each, benchInFlight
// clients at once, over in-memory pipes (no network): "register" signs
// up fresh accounts, "login" logs devices of existing accounts in
// (a durable write of the device each). The clients are the
// server-share kind (pake.NewServerShareClient): their key stretching,
// the most of a real login's time, is at its smallest and measured apart
// ("client-ms" below: one real client's stretching and OPAQUE work for a
// login). The two cores are shared by the clients, every replica and
// PostgreSQL: the figures are lower bounds of a server's own, and the
// ratios between engines are what to read.
func BenchmarkAuthEngines(b *testing.B) {
	cases := []struct {
		name     string
		replicas int
		fresh    func(testing.TB) string
	}{
		{"sqlite", 1, engines[0].fresh},
		{"postgres", 1, engines[1].fresh},
		{"postgres-2", 2, engines[1].fresh},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			db := c.fresh(b)
			clk := &clock{t: time.Now()}
			var srvs []*Server
			for range c.replicas {
				srvs = append(srvs, startOn(b, db, clk, func(cfg *Config) { cfg.RegisterRate = -1 }).srv)
			}
			var turn atomic.Int64
			next := func() *Server { return srvs[int(turn.Add(1))%len(srvs)] }
			device := func(user string, client func(string) (*pake.Client, error)) *benchLogin {
				return newBenchLogin(b, next(), user, client)
			}
			if c.name == cases[0].name {
				real := device("real", pake.NewClient)
				if err := real.register("correct horse"); err != nil {
					b.Fatal(err)
				}
				server, client, err := real.login("correct horse")
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("one real login: %.1f ms at the client (key stretching), %.2f ms at the server", ms(client), ms(server))
			}

			var users atomic.Int64
			b.Run("register", func(b *testing.B) {
				b.SetParallelism((benchInFlight + 1) / 2)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						l := device(fmt.Sprintf("signup%d", users.Add(1)), pake.NewServerShareClient)
						if err := l.register("correct horse"); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registrations/s")
			})

			var devices []*benchLogin
			for i := range benchInFlight {
				l := device(fmt.Sprintf("device%d", i), pake.NewServerShareClient)
				if err := l.register("correct horse"); err != nil {
					b.Fatal(err)
				}
				devices = append(devices, l)
			}
			b.Run("login", func(b *testing.B) {
				ls := make(chan *benchLogin, benchInFlight)
				for _, l := range devices {
					ls <- l
				}
				b.SetParallelism((benchInFlight + 1) / 2)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					l := <-ls
					for pb.Next() {
						l.s = next() // each login at the next replica
						if _, _, err := l.login("correct horse"); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
			})
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
