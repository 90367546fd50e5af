package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"eserver/node"
	"eserver/node/api"
)

// sessionOptions are the flags of the commands that sign in (stream,
// call, answer).
type sessionOptions struct {
	profile, listen string
	user            string
	passwordFile    string
}

// streamOptions are the flags of `eserver-node stream`.
type streamOptions struct {
	sessionOptions
	to    string // send: the contact; empty: receive
	label string // send
	from  string // receive: only from this contact
}

// signIn starts the profile's node, watches it and signs in with the
// password from $ESERVER_PASSWORD or the password file. The caller closes
// the node, after signing out. The watch starts before the sign-in, so no
// event of the session is missed.
func signIn(ctx context.Context, so sessionOptions, log *slog.Logger) (*node.Node, <-chan api.Event, error) {
	if so.user == "" {
		return nil, nil, errors.New("--user is required")
	}
	pw := os.Getenv("ESERVER_PASSWORD")
	if so.passwordFile != "" {
		b, err := os.ReadFile(so.passwordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the password file: %w", err)
		}
		pw = strings.TrimSpace(string(b))
	}
	if pw == "" {
		return nil, nil, errors.New("no password: set ESERVER_PASSWORD or --password-file")
	}
	dir, err := node.ProfileDir(so.profile)
	if err != nil {
		return nil, nil, err
	}
	cfg := node.Config{ProfileDir: dir, Logger: log}
	if so.listen != "" {
		cfg.Listen = strings.Split(so.listen, ",")
	}
	n, err := node.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	events := n.Watch(ctx)
	if _, err := n.Login(ctx, api.LoginRequest{Username: so.user, Password: pw}); err != nil {
		n.Close()
		return nil, nil, fmt.Errorf("signing in as %s: %w", so.user, err)
	}
	return n, events, nil
}

// runStream signs in, carries in to the contact as one live stream (send)
// or the first incoming stream to out (receive), and signs out.
func runStream(opt streamOptions, in io.Reader, out io.Writer, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, events, err := signIn(ctx, opt.sessionOptions, log)
	if err != nil {
		return err
	}
	defer n.Close()
	defer n.Logout(context.Background())
	if opt.to != "" {
		waiting := func() { log.Info("waiting for the contact to come online", "contact", opt.to) }
		if err := waitOnline(ctx, n, events, opt.to, contactOnlineWait, waiting); err != nil {
			return err
		}
		w, err := openStream(ctx, n, opt.to, opt.label, log)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, in); err != nil {
			return fmt.Errorf("streaming to %s: %w", opt.to, err)
		}
		return w.Close()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-events:
			if !ok {
				return errors.New("the node stopped")
			}
			s := e.StreamIncoming
			if s == nil || (opt.from != "" && s.From != opt.from) {
				continue
			}
			r, err := n.AcceptStream(ctx, s.ID)
			if err != nil {
				return err
			}
			log.Info("receiving", "from", s.From, "label", s.Label)
			_, err = io.Copy(out, r)
			r.Close()
			if err != nil {
				return fmt.Errorf("receiving from %s: %w", s.From, err)
			}
			return nil
		}
	}
}

// openStream opens the stream to contact, trying again (within
// contactOnlineWait) while the contact does not answer: it may be shown
// online from what we knew when we signed in, before its own sign-in
// (at the same moment as ours) has finished.
func openStream(ctx context.Context, n *node.Node, contact, label string, log *slog.Logger) (io.WriteCloser, error) {
	deadline := time.Now().Add(contactOnlineWait)
	for {
		_, w, err := n.OpenStream(ctx, contact, label)
		if err == nil || !errors.Is(err, api.ErrUnreachable) || time.Now().After(deadline) {
			return w, err
		}
		log.Info("the contact did not answer: offering the stream again", "contact", contact, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// contactOnlineWait bounds how long `stream send` waits for the contact.
const contactOnlineWait = time.Minute

// waitOnline waits, at most wait, until the contact shows online (it
// may be signing in at the same moment as we are); waiting is called when
// it is not online at once.
func waitOnline(ctx context.Context, a api.API, events <-chan api.Event, contact string, wait time.Duration, waiting func()) error {
	cs, err := a.Contacts(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Username == contact && c.Online() {
			return nil
		}
	}
	waiting()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("%s did not come online within %v", contact, wait)
		case e, ok := <-events:
			if !ok {
				return errors.New("the node stopped")
			}
			if c := e.Contact; c != nil && c.Username == contact && c.Online() {
				return nil
			}
		}
	}
}
