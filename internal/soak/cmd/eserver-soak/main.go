// Command eserver-soak runs the chaos soak (package soak) once and prints
// its one line: sent (chat, conversations of three and chat rooms; how
// many of them in rooms), delivered, lost, duplicated, out of order,
// faults injected, time. `make soak` builds the binaries and runs it.
//
//	eserver-soak --bin DIR
//
// The environment sets the run: SOAK_MESSAGES (300), SOAK_SEED (1),
// SOAK_NODES (12), SOAK_SUPERNODES (3), SOAK_LANS (3), SOAK_PERIOD (10s:
// a supernode is killed that often, a node goes away every quarter of
// it), SOAK_RATE (10 messages/s), SOAK_TWINS (accounts also signed in on
// a second device: SOAK_NODES/6, at least 1; -1 for none),
// SOAK_SETTLE (2m: how long the healed network may take to deliver),
// SOAK_KEEP=1 keeps the temporary directory (logs, databases),
// SOAK_VERBOSE=1 has the nodes log at debug level, SOAK_ROOMS=0 leaves
// out chat rooms and their messages (in by default). The same
// SOAK_SEED and SOAK_MESSAGES give the same plan. `make soak` sets
// SOAK_MESSAGES=100000 and SOAK_RATE=30; `make soak-short` (part of make
// test) 3,000 messages with a fault every few seconds and --every-fault.
//
// Without root it says so and exits 0 (a skip); it exits 1 when anything
// was lost, duplicated or reordered, or the run failed. SIGINT or SIGTERM
// stop it, removing everything it made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"eserver/internal/soak"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding eserver-auth, eserver-supernode and eserver-node")
	quiet := flag.Bool("q", false, "print only the result line")
	every := flag.Bool("every-fault", false, "fail unless every kind of fault was injected at least once (make test's short run)")
	flag.Parse()
	cfg, err := fromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "eserver-soak:", err)
		os.Exit(2)
	}
	cfg.Bin = *bin
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	res, err := soak.Run(ctx, cfg)
	stop()
	if errors.Is(err, soak.ErrNotRoot) {
		fmt.Println("soak: skipped:", err)
		return
	}
	if res.Sent > 0 || err == nil {
		fmt.Println(res.Line())
	}
	if res.Dir != "" {
		fmt.Fprintln(os.Stderr, "soak: kept", res.Dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eserver-soak:", err)
		os.Exit(1)
	}
	if !res.Clean() {
		os.Exit(1)
	}
	if m := res.Faults.Missing(); *every && len(m) > 0 {
		fmt.Fprintf(os.Stderr, "eserver-soak: never injected: %v (a longer run, or a shorter SOAK_PERIOD)\n", m)
		os.Exit(1)
	}
}

// fromEnv reads the SOAK_* variables; unset ones keep Config's defaults.
func fromEnv() (soak.Config, error) {
	var c soak.Config
	var err error
	num := func(name string, v *int) {
		if s := os.Getenv(name); s != "" && err == nil {
			if *v, err = strconv.Atoi(s); err != nil {
				err = fmt.Errorf("%s=%q: %w", name, s, err)
			}
		}
	}
	dur := func(name string, v *time.Duration) {
		if s := os.Getenv(name); s != "" && err == nil {
			if *v, err = time.ParseDuration(s); err != nil {
				err = fmt.Errorf("%s=%q: %w", name, s, err)
			}
		}
	}
	num("SOAK_MESSAGES", &c.Messages)
	num("SOAK_NODES", &c.Nodes)
	num("SOAK_SUPERNODES", &c.Supernodes)
	num("SOAK_LANS", &c.LANs)
	num("SOAK_TWINS", &c.Twins)
	dur("SOAK_PERIOD", &c.Period)
	dur("SOAK_SETTLE", &c.Settle)
	if s := os.Getenv("SOAK_SEED"); s != "" && err == nil {
		if c.Seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			err = fmt.Errorf("SOAK_SEED=%q: %w", s, err)
		}
	}
	if s := os.Getenv("SOAK_RATE"); s != "" && err == nil {
		if c.Rate, err = strconv.ParseFloat(s, 64); err != nil {
			err = fmt.Errorf("SOAK_RATE=%q: %w", s, err)
		}
	}
	c.Keep = os.Getenv("SOAK_KEEP") == "1"
	c.Verbose = os.Getenv("SOAK_VERBOSE") == "1"
	c.Rooms = os.Getenv("SOAK_ROOMS") != "0"
	return c, err
}
