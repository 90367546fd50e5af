// Command eserver-node is the headless EServer node for bots, scripts and
// tests: `eserver-node [--profile NAME|DIR] daemon` speaks JSON-RPC 2.0, one
// object per line, on stdin and stdout (docs/API.md). Logs go to stderr.
//
// `eserver-node --user NAME stream send CONTACT < source` and
// `eserver-node --user NAME stream receive [--from CONTACT] > sink` sign
// in with the profile (password in $ESERVER_PASSWORD or --password-file)
// and carry stdin to the contact's stdout as a live stream, so
// `arecord | eserver-node ... stream send bob` on one side and
// `eserver-node ... stream receive | aplay` on the other is a call.
//
// `eserver-node --user NAME call CONTACT [--in voice.wav] [--out heard.wav]
// [--for 10s]` and `eserver-node --user NAME answer [--from CONTACT] ...`
// make a voice call: the node sends --in instead of the microphone and
// writes what it hears to --out instead of the speakers, and the command
// hangs up after --for (or the input and a second), printing the call's
// states to stderr; it exits non-zero when the call was declined, busy,
// offline, missed or failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"eserver/node"
	"eserver/node/rpc"
)

// flags are the command line's options.
type flags struct {
	profile, listen           *string
	verbose, allowSupernode   *bool
	user, pwFile, label, from *string
	in, out                   *string
	length                    *time.Duration
}

// newFlags defines the command line (docs/API.md shows it; a test holds
// the two together).
func newFlags() (*flag.FlagSet, flags) {
	fs := flag.NewFlagSet("eserver-node", flag.ExitOnError)
	f := flags{
		profile: fs.String("profile", "", "the profile: a name (a directory under $ESERVER_HOME/profiles, by default ~/.config/eserver/profiles on Linux) "+
			"or a directory (a path: with a slash or starting with a dot) (default: the profile named \"default\")"),
		listen:         fs.String("listen", "", "comma-separated libp2p listen multiaddrs (default: TCP and QUIC on all interfaces, random ports)"),
		verbose:        fs.Bool("v", false, "debug logging"),
		allowSupernode: fs.Bool("supernode", false, "allow this node to become a supernode when it is publicly reachable over TCP and QUIC with 2 GiB of memory free"),
		user:           fs.String("user", "", "stream, call, answer: the account to sign in as"),
		pwFile:         fs.String("password-file", "", "stream, call, answer: file holding the password (default: $ESERVER_PASSWORD)"),
		label:          fs.String("label", "stdin", "stream send: the label the contact sees"),
		from:           fs.String("from", "", "stream receive, answer: take only a stream or call from this contact"),
		in: fs.String("in", "", "call, answer: a WAV file (or raw 48 kHz mono 16-bit PCM named *.pcm or *.raw) to send instead of the microphone "+
			"(default: the microphone)"),
		out:    fs.String("out", "", "call, answer: a WAV file to write what the call hears to, instead of the speakers (default: the speakers)"),
		length: fs.Duration("for", 0, "call, answer: hang up when the call has run this long (default: when --in has played, and a second more)"),
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eserver-node [--profile NAME|DIR] [--listen ADDRS] [--supernode] daemon\n"+
			"       eserver-node [--profile NAME|DIR] --user NAME [--label L] stream send CONTACT < source\n"+
			"       eserver-node [--profile NAME|DIR] --user NAME [--from CONTACT] stream receive > sink\n"+
			"       eserver-node [--profile NAME|DIR] --user NAME call CONTACT [--in FILE] [--out FILE] [--for DURATION]\n"+
			"       eserver-node [--profile NAME|DIR] --user NAME answer [--from CONTACT] [--in FILE] [--out FILE] [--for DURATION]\n\n"+
			"Flags may also follow the command.\n\n")
		fs.PrintDefaults()
	}
	return fs, f
}

// commands are the command names and how many operands each takes.
var commands = map[string]int{
	"daemon":         0,
	"stream send":    1,
	"stream receive": 0,
	"call":           1,
	"answer":         0,
}

// parseCommand parses the command line: flags, the command's name (one
// word, or two for stream) and its operands, flags also after them
// (`call bob --in voice.wav`).
func parseCommand(fs *flag.FlagSet, args []string) (name string, operands []string, err error) {
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(words) == 0 {
		return "", nil, errors.New("no command")
	}
	name, operands = words[0], words[1:]
	if name == "stream" && len(operands) > 0 {
		name, operands = "stream "+operands[0], operands[1:]
	}
	n, ok := commands[name]
	if !ok {
		return "", nil, fmt.Errorf("no command %q", name)
	}
	if len(operands) != n {
		return "", nil, fmt.Errorf("%s takes %d operand(s), not %d", name, n, len(operands))
	}
	return name, operands, nil
}

// parseInterleaved parses flags wherever they are among the words, until
// "--" (after which every word is one).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(words, rest...), nil
		}
		if len(rest) == 0 {
			return words, nil
		}
		words, args = append(words, rest[0]), rest[1:]
	}
}

func main() {
	fs, f := newFlags()
	name, operands, err := parseCommand(fs, os.Args[1:])
	if err != nil {
		fmt.Fprintf(fs.Output(), "eserver-node: %v\n", err)
		fs.Usage()
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	so := sessionOptions{profile: *f.profile, listen: *f.listen, user: *f.user, passwordFile: *f.pwFile}
	switch name {
	case "stream send", "stream receive":
		opt := streamOptions{sessionOptions: so, label: *f.label, from: *f.from}
		if name == "stream send" {
			opt.to = operands[0]
		}
		if err := runStream(opt, os.Stdin, os.Stdout, log); err != nil {
			log.Error("eserver-node stream", "err", err)
			os.Exit(1)
		}
	case "call", "answer":
		opt, err := callOptionsOf(f, name, operands)
		if err != nil {
			fmt.Fprintf(os.Stderr, "eserver-node %s: %v\n", name, err)
			os.Exit(2)
		}
		if err := runCallCommand(so, opt, os.Stderr, log); err != nil {
			fmt.Fprintf(os.Stderr, "eserver-node %s: %v\n", name, err)
			os.Exit(1)
		}
	default:
		if err := run(*f.profile, *f.listen, *f.allowSupernode, log); err != nil {
			log.Error("eserver-node", "err", err)
			os.Exit(1)
		}
	}
}

func run(profile, listen string, allowSupernode bool, log *slog.Logger) error {
	dir, err := node.ProfileDir(profile)
	if err != nil {
		return err
	}
	cfg := node.Config{ProfileDir: dir, Logger: log}
	cfg.Supernode.Allowed = allowSupernode
	if listen != "" {
		cfg.Listen = strings.Split(listen, ",")
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("daemon ready", "profile", dir)
	// Signed out before Serve returns, so that what the session's loops
	// show until they stop is written out, not dropped (rpc.SignOutAtEnd).
	return rpc.NewServer(n, log).SignOutAtEnd().Serve(ctx, os.Stdin, os.Stdout)
}
