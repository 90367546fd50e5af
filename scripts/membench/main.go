// Command membench measures the desktop app's memory under a private X
// server (Xvfb), beside a bare Fyne app of the same Fyne version
// (app/cmd/barefyne) measured in the same run on the same display, so the
// ratio travels across machines better than the absolute figures (the GL
// libraries alone differ from one Mesa to the next).
//
// Each run: the bare app, settled; then EServer as a signed-up user with
// three contacts — its sign-in window, its main window a settle time after
// sign-in, then one chat window after another, each opened by a contact's
// message as a person would see it. Every figure is read from /proc (RSS,
// anonymous and file-backed memory) and from the Go runtime's own trace
// (GODEBUG=gctrace=1: the heap left live by the last collection and the
// goal it set). It prints one table of medians and, for `make bench`'s
// table, lines in the `go test -bench` format.
//
// Nothing touches the user's own settings: every program runs with a
// temporary HOME, XDG config/cache directories and EServer home, all removed
// at the end. `make membench` runs it (and `make bench` runs that).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"eserver/authserver/bundle"
	"eserver/internal/memstat"
	"eserver/internal/watch"
	"eserver/internal/xvfb"
	"eserver/node/api"
)

func main() {
	appBin := flag.String("app", "bin/eserver", "the eserver binary to measure")
	bareBin := flag.String("bare", "bin/barefyne", "the bare Fyne app (app/cmd/barefyne) to measure beside it")
	runs := flag.Int("runs", 3, "runs; the table shows medians")
	settle := flag.Duration("settle", 10*time.Second, "how long each window is left to settle before it is measured")
	chats := flag.Int("chats", 3, "chat windows opened one after another")
	keep := flag.String("keep", "", "keep the programs' logs (with gctrace) in this directory")
	flag.Parse()
	if err := run(*appBin, *bareBin, *runs, *chats, *settle, *keep); err != nil {
		log.Fatal("membench: ", err)
	}
}

// Targets (issue 21, part 3).
const (
	targetMainRatio = 1.15     // main window ÷ bare app, a settle time after sign-in
	targetChatBytes = 12 << 20 // each open chat window's increment
	mib             = float64(1 << 20)
)

// sample is one process's memory at one moment, in bytes.
type sample struct {
	rss, anon, file int64 // from /proc/PID/status
	peak            int64 // the highest RSS so far (VmHWM)
	// From the Go runtime (internal/memstat): what it holds from the OS,
	// what the last collection left live, and the next collection's goal.
	goMapped, heapLive, heapGoal int64
}

func run(appBin, bareBin string, runs, chats int, settle time.Duration, keep string) error {
	for _, tool := range []string{"Xvfb", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (make membench installs it): %w", tool, err)
		}
	}
	var err error
	if appBin, err = filepath.Abs(appBin); err != nil {
		return err
	}
	if bareBin, err = filepath.Abs(bareBin); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "eserver-membench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs)*(time.Duration(chats+3)*settle+2*time.Minute)+2*time.Minute)
	defer cancel()

	x, err := xvfb.Start(160)
	if err != nil {
		return err
	}
	defer x.Stop()

	w, err := setUp(ctx, tmp, chats)
	if err != nil {
		return err
	}
	defer w.close()

	var bare, signIn, main []sample
	bareWin := make([][]sample, chats) // bareWin[i][run]: after the bare app's (i+1)th extra window
	chat := make([][]sample, chats)    // chat[i][run]: after the (i+1)th chat window
	for r := range runs {
		home := filepath.Join(tmp, fmt.Sprintf("run%d", r+1))
		if keep != "" {
			home = filepath.Join(keep, fmt.Sprintf("run%d", r+1))
		}
		b, bw, err := measureBare(ctx, x, bareBin, home, chats, settle)
		if err != nil {
			return fmt.Errorf("run %d, bare app: %w", r+1, err)
		}
		bare = append(bare, b)
		for i := range bw {
			bareWin[i] = append(bareWin[i], bw[i])
		}
		s, m, cs, err := measureApp(ctx, x, appBin, home, w, settle)
		if err != nil {
			return fmt.Errorf("run %d, eserver: %w", r+1, err)
		}
		signIn, main = append(signIn, s), append(main, m)
		for i := range cs {
			chat[i] = append(chat[i], cs[i])
		}
		log.Printf("run %d: bare %.1f MiB, sign-in %.1f MiB, main %.1f MiB (%.2fx), with %d chats %.1f MiB",
			r+1, float64(b.rss)/mib, float64(s.rss)/mib, float64(m.rss)/mib, float64(m.rss)/float64(b.rss), chats, float64(cs[len(cs)-1].rss)/mib)
	}
	report(bare, bareWin, signIn, main, chat, settle)
	return nil
}

// world is the auth server and the people Alice talks to, in this process;
// Alice's profile is measured in the app's.
type world struct {
	server   string
	aliceDir string
	friends  []*watch.Node
	names    []string
	svc      interface{ Close() error }
}

func (w *world) close() {
	for _, f := range w.friends {
		f.Close()
	}
	w.svc.Close()
}

// setUp signs Alice and her friends up, makes them contacts, and closes
// Alice's node so the app opens her profile.
func setUp(ctx context.Context, tmp string, n int) (*world, error) {
	svc, err := bundle.Start(bundle.Config{Dir: filepath.Join(tmp, "auth"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, RegisterRate: -1})
	if err != nil {
		return nil, fmt.Errorf("starting the auth server: %w", err)
	}
	w := &world{server: svc.Addr(), aliceDir: filepath.Join(tmp, "alice"), svc: svc}
	alice, err := signUp(ctx, w.aliceDir, w.server, "alice")
	if err != nil {
		w.close()
		return nil, err
	}
	defer alice.Close()
	for i := range n {
		name := fmt.Sprintf("friend%d", i+1)
		f, err := signUp(ctx, filepath.Join(tmp, name), w.server, name)
		if err != nil {
			w.close()
			return nil, err
		}
		w.friends, w.names = append(w.friends, f), append(w.names, name)
		if err := alice.AddContact(ctx, name, "Hi, it's Alice!"); err != nil {
			w.close()
			return nil, fmt.Errorf("adding %s: %w", name, err)
		}
		if _, err := f.Wait(ctx, func(e api.Event) bool { return e.ContactRequest != nil }); err != nil {
			w.close()
			return nil, fmt.Errorf("%s waiting for Alice's request: %w", name, err)
		}
		if err := f.AcceptContact(ctx, "alice"); err != nil {
			w.close()
			return nil, err
		}
		if _, err := alice.Wait(ctx, func(e api.Event) bool {
			return e.Contact != nil && e.Contact.Username == name && e.Contact.Relation == api.RelationAccepted
		}); err != nil {
			w.close()
			return nil, fmt.Errorf("alice waiting for %s to accept: %w", name, err)
		}
	}
	return w, nil
}

func signUp(ctx context.Context, dir, server, name string) (*watch.Node, error) {
	w, err := watch.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := w.Register(ctx, server, name, "pw-"+name); err != nil {
		w.Close()
		return nil, fmt.Errorf("signing up %s: %w", name, err)
	}
	if _, err := w.Login(ctx, api.LoginRequest{Server: server, Username: name, Password: "pw-" + name}); err != nil {
		w.Close()
		return nil, fmt.Errorf("signing in %s: %w", name, err)
	}
	return w, nil
}

// measureBare starts the bare app and measures it once it settled, then
// after each of n more windows (Enter in its entry opens one).
func measureBare(ctx context.Context, x *xvfb.Display, bin, home string, n int, settle time.Duration) (main sample, windows []sample, err error) {
	p, err := start(x, bin, home, "bare.log")
	if err != nil {
		return
	}
	defer p.stop()
	win, err := x.Window(ctx, "^Bare Fyne$")
	if err != nil {
		return
	}
	sleep(ctx, settle)
	if main, err = p.sample(); err != nil {
		return
	}
	for i := range n {
		x.Run("windowfocus", "--sync", win)
		x.Run("key", "Return")
		if _, err = x.Windows(ctx, "^Bare Fyne window", i+1); err != nil {
			return
		}
		sleep(ctx, settle)
		var s sample
		if s, err = p.sample(); err != nil {
			return
		}
		windows = append(windows, s)
	}
	return
}

// measureApp starts EServer with Alice's profile and measures its sign-in
// window, its main window a settle time after sign-in, and each chat window
// a friend's message opens.
func measureApp(ctx context.Context, x *xvfb.Display, bin, home string, w *world, settle time.Duration) (signIn, main sample, chats []sample, err error) {
	defer func() {
		if err != nil {
			if err := x.Capture("root", filepath.Join(home, "failed.png")); err != nil {
				log.Print(err) // no ImageMagick: no picture of the failure
			}
		}
	}()
	p, err := start(x, bin, home, "eserver.log", "--profile", w.aliceDir, "--server", w.server)
	if err != nil {
		return
	}
	defer p.stop()
	win, err := x.Window(ctx, "^EServer \\(")
	if err != nil {
		return
	}
	sleep(ctx, settle)
	if signIn, err = p.sample(); err != nil {
		return
	}
	// The username field has the focus; Enter moves to the password.
	x.Run("windowfocus", "--sync", win)
	x.Run("type", "--delay", "20", "alice")
	x.Run("key", "Return")
	x.Run("type", "--delay", "20", "pw-alice")
	x.Run("key", "Return")
	if _, err = x.Window(ctx, "^EServer Messenger"); err != nil {
		return
	}
	sleep(ctx, settle)
	if main, err = p.sample(); err != nil {
		return
	}
	for i, f := range w.friends {
		if _, err = f.Send(ctx, "alice", fmt.Sprintf("Hello from %s", w.names[i])); err != nil {
			return
		}
		if _, err = x.Windows(ctx, "Conversation", i+1); err != nil {
			return
		}
		sleep(ctx, settle)
		var s sample
		if s, err = p.sample(); err != nil {
			return
		}
		chats = append(chats, s)
	}
	return
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// proc is a measured program.
type proc struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
	memstat string // where it writes its Go memory figures on SIGUSR1
	samples int
}

// start runs bin on the display with a private home: its Fyne preferences,
// caches and EServer home go under home, never the user's.
func start(x *xvfb.Display, bin, home, logName string, args ...string) (*proc, error) {
	for _, d := range []string{"home", "config", "cache", "eserver"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+x.Name, "LANG=en_US.UTF-8", "GODEBUG=gctrace=1",
		memstat.Env+"="+filepath.Join(home, strings.TrimSuffix(logName, ".log")+"-memstat.json"),
		"HOME="+filepath.Join(home, "home"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"), "ESERVER_HOME="+filepath.Join(home, "eserver"))
	logf, err := os.Create(filepath.Join(home, logName))
	if err != nil {
		return nil, err
	}
	// The collector's trace goes to the log beside the program's own
	// lines, for reading when a figure surprises.
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), logFile: logf,
		memstat: filepath.Join(home, strings.TrimSuffix(logName, ".log")+"-memstat.json")}
	go func() {
		defer close(p.exited)
		cmd.Wait()
		logf.Close()
	}()
	return p, nil
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// sample reads the program's memory from /proc, then asks it for its Go
// runtime's figures (and a heap profile, kept beside them as
// NAME-memstat-N.json and .pprof for reading later).
func (p *proc) sample() (sample, error) {
	var s sample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return s, fmt.Errorf("reading the program's status (did it exit?): %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.rss = v << 10
		case "VmHWM:":
			s.peak = v << 10
		case "RssAnon:":
			s.anon = v << 10
		case "RssFile:":
			s.file = v << 10
		}
	}
	os.Remove(p.memstat)
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return s, err
	}
	var js []byte
	for range 100 {
		if js, err = os.ReadFile(p.memstat); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return s, fmt.Errorf("the program wrote no memory figures (%s): %w", memstat.Env, err)
	}
	var snap memstat.Snapshot
	if err := json.Unmarshal(js, &snap); err != nil {
		return s, fmt.Errorf("reading %s: %w", p.memstat, err)
	}
	s.goMapped, s.heapLive, s.heapGoal = int64(snap.Mapped), int64(snap.HeapLive), int64(snap.HeapGoal)
	p.samples++
	keep := strings.TrimSuffix(p.memstat, ".json") + fmt.Sprintf("-%d", p.samples)
	os.Rename(p.memstat, keep+".json")
	os.Rename(p.memstat+".pprof", keep+".pprof")
	return s, nil
}

// report prints the medians and the benchmark lines.
func report(bare []sample, bareWin [][]sample, signIn, main []sample, chat [][]sample, settle time.Duration) {
	med := func(ss []sample, f func(sample) int64) int64 {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rss := func(s sample) int64 { return s.rss }
	row := func(what string, ss []sample) {
		fmt.Printf("%-40s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %6.2fx\n", what,
			float64(med(ss, rss))/mib, float64(med(ss, func(s sample) int64 { return s.anon }))/mib,
			float64(med(ss, func(s sample) int64 { return s.file }))/mib,
			float64(med(ss, func(s sample) int64 { return s.goMapped }))/mib,
			float64(med(ss, func(s sample) int64 { return s.heapLive }))/mib,
			float64(med(ss, func(s sample) int64 { return s.heapGoal }))/mib,
			float64(med(ss, rss))/float64(med(bare, rss)))
	}
	fmt.Printf("\ndesktop memory under Xvfb, medians of %d runs, each window measured %v after it appeared (MiB)\n", len(bare), settle)
	fmt.Printf("%-40s %8s %8s %8s %8s %8s %8s %7s\n", "window", "RSS", "anon", "file", "Go held", "Go live", "Go goal", "÷ bare")
	// windows prints each extra window's row and its increment over the
	// row before, and returns the median increment per window.
	windows := func(what string, first []sample, more [][]sample) int64 {
		prev := first
		for i, c := range more {
			row(fmt.Sprintf("  + %s %d", what, i+1), c)
			inc := make([]sample, len(c))
			for r := range c {
				inc[r] = sample{rss: c[r].rss - prev[r].rss, anon: c[r].anon - prev[r].anon, goMapped: c[r].goMapped - prev[r].goMapped}
			}
			fmt.Printf("%-40s %+8.1f %+8.1f %8s %+8.1f\n", "    increment", float64(med(inc, rss))/mib,
				float64(med(inc, func(s sample) int64 { return s.anon }))/mib, "", float64(med(inc, func(s sample) int64 { return s.goMapped }))/mib)
			prev = c
		}
		if len(more) == 0 {
			return 0
		}
		var incs []int64
		for r := range first {
			incs = append(incs, (more[len(more)-1][r].rss-first[r].rss)/int64(len(more)))
		}
		slices.Sort(incs)
		return incs[len(incs)/2]
	}
	row("bare Fyne app (50 rows, entry, button)", bare)
	bareInc := windows("bare window (600×480)", bare, bareWin)
	row("EServer sign-in window", signIn)
	row("EServer main window", main)
	chatInc := windows("chat window", main, chat)
	fmt.Printf("%-40s %8.1f   (the highest RSS up to the main window's measure: signing in)\n", "EServer peak RSS", float64(med(main, func(s sample) int64 { return s.peak }))/mib)
	ratio := float64(med(main, rss)) / float64(med(bare, rss))
	anonRatio := float64(med(main, func(s sample) int64 { return s.anon })) / float64(med(bare, func(s sample) int64 { return s.anon }))
	fmt.Printf("target: main window ≤ %.2fx the bare app: %.2fx RSS (%s), %.2fx anonymous memory\n", targetMainRatio, ratio, verdict(ratio <= targetMainRatio), anonRatio)
	if len(chat) > 0 {
		fmt.Printf("target: each chat window ≤ +%d MiB: +%.1f MiB on average over %d (%s); a bare Fyne window: +%.1f MiB\n",
			targetChatBytes>>20, float64(chatInc)/mib, len(chat), verdict(chatInc <= targetChatBytes), float64(bareInc)/mib)
	}
	// Lines for benchtable, in the format of `go test -bench`.
	line := func(name string, ss []sample) {
		fmt.Printf("%s\t1\t0 ns/op\t%d rss-B\t%d peak-B\t%d anon-B\t%d file-B\t%d gomapped-B\t%d golive-B\t%d gogoal-B\n", name,
			med(ss, rss), med(ss, func(s sample) int64 { return s.peak }), med(ss, func(s sample) int64 { return s.anon }), med(ss, func(s sample) int64 { return s.file }),
			med(ss, func(s sample) int64 { return s.goMapped }), med(ss, func(s sample) int64 { return s.heapLive }),
			med(ss, func(s sample) int64 { return s.heapGoal }))
	}
	line("BenchmarkMemBareFyne", bare)
	if n := len(bareWin); n > 0 {
		line(fmt.Sprintf("BenchmarkMemBareWindows/n=%d", n), bareWin[n-1])
	}
	line("BenchmarkMemSignIn", signIn)
	line("BenchmarkMemMainWindow", main)
	if n := len(chat); n > 0 {
		line(fmt.Sprintf("BenchmarkMemChats/n=%d", n), chat[n-1])
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
