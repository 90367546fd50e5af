package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// supernodeProc is one eserver-supernode in pub, on fixed ports so that a
// restart comes back where the registry and the nodes knew it.
type supernodeProc struct {
	ns, log string
	profile string // its databases
	argv    []string
	mu      sync.Mutex
	p       *proc // nil while down
}

func (sn *supernodeProc) start() error {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.p != nil {
		return nil
	}
	p, out, _, err := startProc(sn.ns, sn.argv, nil, sn.log)
	if err != nil {
		return err
	}
	if _, err := firstLine(out, p, time.Minute); err != nil {
		p.kill(syscall.SIGKILL)
		return fmt.Errorf("supernode: %w", err)
	}
	sn.p = p
	return nil
}

// kill is the fault: SIGKILL, no chance to close a database.
func (sn *supernodeProc) kill() {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.p != nil {
		sn.p.kill(syscall.SIGKILL)
		sn.p = nil
	}
}

func (sn *supernodeProc) stop() {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.p != nil {
		sn.p.kill(syscall.SIGTERM)
		sn.p = nil
	}
}

// startSupernodes registers an operator account per supernode (through
// node 0's daemon: register does not sign it in) and starts them in pub.
func (s *run) startSupernodes(ctx context.Context) error {
	pwFile := filepath.Join(s.dir, "operator.pw")
	if err := os.WriteFile(pwFile, []byte("operator pw\n"), 0o600); err != nil {
		return err
	}
	n0 := s.nodes[0]
	for j := range s.cfg.Supernodes {
		user := fmt.Sprintf("op%d", j)
		err := retry(ctx, time.Minute, func(ctx context.Context) error {
			return n0.d.call(ctx, "register", map[string]any{"server": s.authAddr(n0.lan), "username": user, "password": "operator pw"}, nil)
		})
		if err != nil {
			return fmt.Errorf("registering operator %s: %w", user, err)
		}
		prof := filepath.Join(s.dir, user)
		port := 1865 + j
		sn := &supernodeProc{ns: s.topo.NS("pub"), log: prof + ".log", profile: prof, argv: []string{filepath.Join(s.cfg.Bin, "eserver-supernode"),
			"--profile", prof, "--server", s.authAddr(0), "--username", user, "--password-file", pwFile,
			"--listen", fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port), "--listen", fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port),
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort(j))}}
		if err := sn.start(); err != nil {
			return fmt.Errorf("supernode %d: %w", j, err)
		}
		s.sns = append(s.sns, sn)
	}
	s.logf("auth server and %d supernodes up", len(s.sns))
	return nil
}

// killSupernodes kills a random supernode with SIGKILL every Period and
// starts it again 2–5 s later, until ctx ends; it returns the kills.
func (s *run) killSupernodes(ctx context.Context) int {
	rng := s.rngFor(1)
	kills := 0
	t := time.NewTicker(s.cfg.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return kills
		case <-t.C:
		}
		sn := s.sns[rng.IntN(len(s.sns))]
		down := time.Duration(2000+rng.IntN(3000)) * time.Millisecond
		sn.kill()
		kills++
		select {
		case <-ctx.Done():
		case <-time.After(down):
		}
		if err := sn.start(); err != nil {
			s.logf("restarting a supernode: %v (tried again when healing)", err)
		}
	}
}
