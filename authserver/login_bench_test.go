package authserver

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"eserver/node/pake"
	"eserver/node/wire"
)

// benchLogin is one client of BenchmarkLoginServer: a device (its peer
// ID) of an account, talking to the server over an in-memory pipe.
type benchLogin struct {
	cpu    time.Duration // the server's CPU time in this client's exchanges
	s      *Server
	user   string
	remote peer.ID
	addr   ma.Multiaddr
	client func(string) (*pake.Client, error)
}

// newBenchLogin is a new device of user's, with client's kind of OPAQUE
// client, that talks to s.
func newBenchLogin(tb testing.TB, s *Server, user string, client func(string) (*pake.Client, error)) *benchLogin {
	tb.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return &benchLogin{s: s, user: user, remote: id, addr: ma.StringCast("/ip4/127.0.0.1/tcp/4001"), client: client}
}

// exchange runs one auth request on a fresh pipe. Each step gets the
// previous answer and returns the next message to send, or nil when
// done; inServer is the time from each send to its answer: the server's
// share, with no client work inside it. The server runs on an OS thread
// of its own, whose CPU time for the whole exchange is added to l.cpu.
func (l *benchLogin) exchange(first proto.Message, steps ...func(*wire.AuthResponse) (proto.Message, error)) (last *wire.AuthResponse, inServer time.Duration, err error) {
	cli, srv := net.Pipe()
	defer cli.Close()
	done := make(chan error, 1)
	go func() {
		defer srv.Close()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		before := threadCPU()
		err := l.s.serve(context.Background(), srv, l.remote, l.addr)
		l.cpu += threadCPU() - before
		done <- err
	}()
	send := first
	for i := 0; ; i++ {
		start := time.Now()
		if err := wire.WriteMsg(cli, send); err != nil {
			return nil, 0, err
		}
		var r wire.AuthResponse
		if err := wire.ReadMsg(cli, wire.MaxAuthFrame, &r); err != nil {
			return nil, 0, err
		}
		inServer += time.Since(start)
		if i == len(steps) {
			return &r, inServer, <-done
		}
		if send, err = steps[i](&r); err != nil {
			return nil, 0, err
		}
	}
}

// rusageThread is Linux's RUSAGE_THREAD, which package syscall lacks;
// elsewhere Getrusage refuses it and threadCPU reads 0.
const rusageThread = 1

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// refusedError is a request the server refused, with its code.
type refusedError struct{ code, msg string }

func (e refusedError) Error() string { return e.code + ": " + e.msg }

// refusedBy is r's refusal as an error; nil when r is no refusal.
func refusedBy(r *wire.AuthResponse) error {
	if e := r.GetError(); e != nil {
		return refusedError{e.Code, e.Message}
	}
	return nil
}

// register registers l's account with l's client.
func (l *benchLogin) register(pw string) error {
	pc, err := l.client(l.user)
	if err != nil {
		return err
	}
	req, err := pc.RegistrationStart([]byte(pw))
	if err != nil {
		return err
	}
	r, _, err := l.exchange(&wire.AuthRequest{Kind: &wire.AuthRequest_RegisterStart{RegisterStart: &wire.RegisterStart{Username: l.user, RegistrationRequest: req}}},
		func(r *wire.AuthResponse) (proto.Message, error) {
			if err := refusedBy(r); err != nil {
				return nil, err
			}
			rec, err := pc.RegistrationFinish(r.GetRegistrationResponse())
			return &wire.RegisterFinish{RegistrationRecord: rec}, err
		})
	if err != nil {
		return err
	}
	if err := refusedBy(r); err != nil {
		return err
	}
	if r.GetRegisterResult() == nil {
		return fmt.Errorf("registering %s: %v", l.user, r)
	}
	return nil
}

// login runs one whole login and returns the server's share of its time
// and the client's (KE1, KE3 and decoding, outside the exchanges).
func (l *benchLogin) login(pw string) (inServer, inClient time.Duration, err error) {
	start := time.Now()
	pc, err := l.client(l.user)
	if err != nil {
		return 0, 0, err
	}
	ke1, err := pc.LoginStart([]byte(pw))
	if err != nil {
		return 0, 0, err
	}
	r, inServer, err := l.exchange(&wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: l.user, Ke1: ke1, Device: "bench", BoxKey: make([]byte, 32)}}},
		func(r *wire.AuthResponse) (proto.Message, error) {
			if err := refusedBy(r); err != nil {
				return nil, err
			}
			ke2 := r.GetKe2()
			if ke2 == nil {
				return nil, fmt.Errorf("no KE2: %v", r)
			}
			ke3, _, err := pc.LoginFinish(ke2)
			return &wire.LoginFinish{Ke3: ke3}, err
		})
	if err != nil {
		return 0, 0, err
	}
	if err := refusedBy(r); err != nil {
		return 0, 0, err
	}
	if r.GetLoginResult().GetTicket() == nil {
		return 0, 0, fmt.Errorf("login of %s: %v", l.user, r)
	}
	return inServer, time.Since(start) - inServer, nil
}

// BenchmarkLoginServer measures the auth server's own share of a login —
// the revocation and rate-limit checks and store reads, KE1 → KE2, KE3
// verified, the device recorded (a durable write), ticket, card and
// region pass signed — apart from the client's key stretching: the
// client's Argon2id (64 MiB, three passes) is run once beforehand, in one
// real login whose client-side time is reported as client-ms/login, and
// the measured logins use a pake.NewServerShareClient, whose stretch is
// the smallest. The server's share is the time from each message sent to
// its answer over an in-memory pipe (no network, no client work inside
// it), reported as server-logins/s: one login at a time on one core.
func BenchmarkLoginServer(b *testing.B) {
	clk := &clock{t: time.Now()}
	f := startOn(b, "", clk, func(c *Config) { c.RegisterRate = -1 })
	newLogin := func(user string, client func(string) (*pake.Client, error)) *benchLogin {
		return newBenchLogin(b, f.srv, user, client)
	}
	real := newLogin("alice", pake.NewClient)
	if err := real.register("correct horse"); err != nil {
		b.Fatal(err)
	}
	_, clientTook, err := real.login("correct horse")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("one", func(b *testing.B) {
		l := newLogin("bench", pake.NewServerShareClient)
		if err := l.register("correct horse"); err != nil {
			b.Fatal(err)
		}
		var server time.Duration
		l.cpu = 0
		for b.Loop() {
			took, _, err := l.login("correct horse")
			if err != nil {
				b.Fatal(err)
			}
			server += took
		}
		b.ReportMetric(float64(b.N)/server.Seconds(), "server-logins/s")
		b.ReportMetric(float64(server.Microseconds())/float64(b.N), "server-µs/login")
		b.ReportMetric(float64(l.cpu.Microseconds())/float64(b.N), "server-cpu-µs/login")
		b.ReportMetric(float64(clientTook.Microseconds())/1000, "client-ms/login")
	})
	// Logins from benchInFlight devices at once, each of its own
	// account: the server's throughput with its cores shared with the
	// clients' (cheap) work, so a lower bound on the server's own.
	var devices []*benchLogin
	for i := range benchInFlight {
		l := newLogin(fmt.Sprintf("bench%d", i), pake.NewServerShareClient)
		if err := l.register("correct horse"); err != nil {
			b.Fatal(err)
		}
		devices = append(devices, l)
	}
	b.Run(fmt.Sprintf("in-flight=%d", benchInFlight), func(b *testing.B) {
		ls := make(chan *benchLogin, benchInFlight)
		for _, l := range devices {
			ls <- l
		}
		for _, l := range devices {
			l.cpu = 0
		}
		b.SetParallelism((benchInFlight + 1) / 2)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			l := <-ls
			for pb.Next() {
				if _, _, err := l.login("correct horse"); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
		var cpu time.Duration
		for _, l := range devices {
			cpu += l.cpu
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/login")
	})
}

// benchInFlight is how many logins BenchmarkLoginServer runs at once when
// measuring throughput.
const benchInFlight = 8
