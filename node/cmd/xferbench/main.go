// Command xferbench measures one file transfer three ways on this machine,
// in one run, and prints the results as benchmark lines for benchtable:
// EServer's transfer (node/transfer between two libp2p hosts on loopback),
// a bare libp2p stream copy of the same bytes into a file (the ceiling),
// and croc through a local croc relay (what people use today).
//
//	xferbench [-size BYTES] [-croc PATH]
//
// croc is looked for with -croc, then on PATH; without it the croc line is
// left out (make bench installs it).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/transfer"
)

func main() {
	size := flag.Int64("size", 256<<20, "bytes to transfer")
	crocPath := flag.String("croc", "", "the croc binary (default: croc on PATH)")
	flag.Parse()
	if err := run(*size, *crocPath); err != nil {
		fmt.Fprintln(os.Stderr, "xferbench:", err)
		os.Exit(1)
	}
}

func run(size int64, crocPath string) error {
	dir, err := os.MkdirTemp("", "xferbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "send", "file.bin")
	if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
		return err
	}
	if err := randomFile(src, size); err != nil {
		return err
	}
	report := func(name string, d time.Duration) {
		fmt.Printf("BenchmarkXfer%s\t1\t%d ns/op\t%.1f MB/s\n", name, d.Nanoseconds(), float64(size)/d.Seconds()/1e6)
	}
	d, err := eserverTransfer(src, filepath.Join(dir, "eserver"))
	if err != nil {
		return fmt.Errorf("eserver transfer: %w", err)
	}
	report("EServer", d)
	d, err = rawCopy(src, filepath.Join(dir, "raw"))
	if err != nil {
		return fmt.Errorf("raw copy: %w", err)
	}
	report("RawStreamToFile", d)
	if crocPath == "" {
		crocPath, _ = exec.LookPath("croc")
	}
	if crocPath == "" {
		fmt.Fprintln(os.Stderr, "xferbench: no croc binary: the croc comparison is left out")
		return nil
	}
	d, err = croc(crocPath, src, filepath.Join(dir, "croc"))
	if err != nil {
		return fmt.Errorf("croc: %w", err)
	}
	report("Croc", d)
	return nil
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(f, rand.Reader, size)
	return err
}

func hosts() (host.Host, host.Host, error) {
	a, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return nil, nil, err
	}
	b, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	b.Peerstore().AddAddrs(a.ID(), a.Addrs(), peerstore.PermanentAddrTTL)
	a.Peerstore().AddAddrs(b.ID(), b.Addrs(), peerstore.PermanentAddrTTL)
	return a, b, nil
}

// eserverTransfer offers src on one host and receives it into dir on the
// other: hashing the offer is not timed (the sender does it once, before
// offering), everything after the receiver starts is.
func eserverTransfer(src, dir string) (time.Duration, error) {
	sh, rh, err := hosts()
	if err != nil {
		return 0, err
	}
	defer sh.Close()
	defer rh.Close()
	s := transfer.NewSender(sh)
	if err := s.Start(); err != nil {
		return 0, err
	}
	defer s.Close()
	o, err := transfer.NewOffer(src, transfer.DefaultChunkSize)
	if err != nil {
		return 0, err
	}
	if err := s.Add(transfer.Share{Offer: o, Path: src, Peer: rh.ID()}); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	r := &transfer.Receiver{Host: rh, Chunks: &transfer.MemoryChunkMap{}}
	defer r.Close()
	start := time.Now()
	if _, err := r.Receive(context.Background(), transfer.Request{Peer: sh.ID(), Offer: o, Dir: dir}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// rawCopy sends src over one bare libp2p stream into a file, fsynced at
// the end, as the ceiling of what a transfer over this stack can do.
func rawCopy(src, dir string) (time.Duration, error) {
	sh, rh, err := hosts()
	if err != nil {
		return 0, err
	}
	defer sh.Close()
	defer rh.Close()
	const proto = protocol.ID("/xferbench/raw/1.0.0")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	rh.SetStreamHandler(proto, func(st network.Stream) {
		defer st.Close()
		f, err := os.Create(filepath.Join(dir, "file.bin"))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, st)
		done <- errors.Join(err, f.Sync(), f.Close())
	})
	start := time.Now()
	st, err := sh.NewStream(context.Background(), rh.ID(), proto)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := io.Copy(st, f); err != nil {
		return 0, err
	}
	st.CloseWrite()
	if err := <-done; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// croc sends src through a croc relay on 127.0.0.1 and receives it into
// dir; the time runs from the receiver's start to its exit (croc hashes
// and exchanges keys within it, as a user would wait for).
func croc(bin, src, dir string) (time.Duration, error) {
	const code = "8421-xferbench-local-only"
	ports := "19309,19310,19311,19312,19313"
	relay := exec.Command(bin, "relay", "--ports", ports)
	if err := relay.Start(); err != nil {
		return 0, err
	}
	defer func() { relay.Process.Kill(); relay.Wait() }()
	time.Sleep(500 * time.Millisecond)
	env := append(os.Environ(), "CROC_SECRET="+code)
	send := exec.Command(bin, "--relay", "127.0.0.1:19309", "send", "--no-local", filepath.Base(src))
	send.Dir, send.Env = filepath.Dir(src), env
	if err := send.Start(); err != nil {
		return 0, err
	}
	defer func() { send.Process.Kill(); send.Wait() }()
	time.Sleep(time.Second)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	recv := exec.CommandContext(ctx, bin, "--relay", "127.0.0.1:19309", "--yes", "--overwrite")
	recv.Dir, recv.Env = dir, env
	start := time.Now()
	if out, err := recv.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("receiving: %v: %s", err, out)
	}
	took := time.Since(start)
	fi, err := os.Stat(filepath.Join(dir, filepath.Base(src)))
	if err != nil {
		return 0, fmt.Errorf("croc received nothing: %w", err)
	}
	want, _ := os.Stat(src)
	if fi.Size() != want.Size() {
		return 0, fmt.Errorf("croc received %d bytes of %d", fi.Size(), want.Size())
	}
	return took, nil
}
