package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is one process the harness started, in a namespace. It runs in its
// own process group (so a kill reaches what it started) and dies with the
// harness (Pdeathsig), so an interrupted soak leaves no process behind.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
	err  error         // Wait's, once done is closed
}

// startProc starts argv inside namespace ns, stdout to out (the caller
// reads it to EOF and closes it), stderr appended to the file logPath.
func startProc(ns string, argv []string, env []string, logPath string) (*proc, io.ReadCloser, io.WriteCloser, error) {
	args := append([]string{"netns", "exec", ns}, argv...)
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening log: %w", err)
	}
	cmd.Stderr = logf
	// Stdout is a pipe of our own, not StdoutPipe's: Wait closes that one
	// once the process exits, dropping what it wrote last and the reader
	// has not read yet — a daemon's last notifications before a kill.
	// Ours is read to its end (EOF once the process is gone).
	out, w, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, nil, nil, err
	}
	cmd.Stdout = w
	in, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		out.Close()
		w.Close()
		return nil, nil, nil, err
	}
	err = cmd.Start()
	w.Close() // the child holds its copy
	if err != nil {
		logf.Close()
		out.Close()
		return nil, nil, nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, out, in, nil
}

// kill sends sig to the process and waits (bounded) for it to go.
// state says whether p still runs, or how it ended.
func (p *proc) state() string {
	select {
	case <-p.done:
		return fmt.Sprintf("exited: %v", p.err)
	default:
		return "running"
	}
}

// lastLines is the last n lines of the file at path, joined with " | ",
// for a report.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

func (p *proc) kill(sig syscall.Signal) {
	p.signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// signal sends sig to the process unless it has already exited. Through
// os.Process, which holds a pidfd, a process that exited is never
// confused with a later one given its PID: this machine's PIDs wrap at
// 32,768, the soak starts hundreds of processes while builds and tests
// start thousands, and a kill by number of an exited daemon's process
// group could take down a server started since. The servers start no
// children (ip netns exec executes them in place), so the process is all
// there is to stop. An error means it has gone.
func (p *proc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// firstLine reads the first line a server prints (its address), bounded.
func firstLine(r io.Reader, p *proc, bound time.Duration) (string, error) {
	ch := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			ch <- strings.TrimSpace(sc.Text())
		}
		close(ch)
		io.Copy(io.Discard, r) // keep the pipe drained
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
	}()
	select {
	case l, ok := <-ch:
		if !ok {
			return "", errors.New("exited before printing its address")
		}
		return l, nil
	case <-p.done:
		return "", fmt.Errorf("exited before printing its address: %v", p.err)
	case <-time.After(bound):
		return "", fmt.Errorf("printed no address within %v", bound)
	}
}

// ErrRPC is an application error the daemon answered with; its code is in
// RPCError.
var ErrRPC = errors.New("daemon error")

// RPCError is the daemon's error answer: Code is its data.code.
type RPCError struct{ Method, Code, Message string }

func (e *RPCError) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Method, e.Message, e.Code) }
func (e *RPCError) Unwrap() error { return ErrRPC }

// daemon is a running eserver-node daemon driven by JSON-RPC on its
// stdin/stdout (docs/API.md). Notifications are read and dropped — the
// harness polls state instead, which cannot miss a change — but for the
// mail count and roomMessage: what a room's member was shown is what its
// daemon said (rooms.go).
type daemon struct {
	p     *proc
	mail  *atomic.Int64 // offlineMessages counts: messages that came by mail
	rooms *roomLog      // roomMessage notifications, kept by the node
	read  chan struct{} // closed once everything the process wrote was read
	in    io.WriteCloser
	mu    sync.Mutex
	id    int
	res   map[int]chan rpcAnswer
}

type rpcAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
		Data    struct {
			Code string `json:"code"`
		} `json:"data"`
	} `json:"error"`
}

func newDaemon(p *proc, out io.ReadCloser, in io.WriteCloser, mail *atomic.Int64, rooms *roomLog) *daemon {
	d := &daemon{p: p, mail: mail, rooms: rooms, in: in, res: map[int]chan rpcAnswer{}, read: make(chan struct{})}
	go func() {
		defer close(d.read)
		defer out.Close()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), maxLine)
		for sc.Scan() {
			m, err := parseLine(sc.Bytes())
			if err != nil {
				continue
			}
			if m.ID == nil {
				if m.Method == "offlineMessages" && m.Params.Count > 0 {
					d.mail.Add(m.Params.Count)
				}
				if m.Method == "roomMessage" && d.rooms != nil {
					d.rooms.add(m.Params.Room, roomLine{ID: m.Params.ID, From: m.Params.From, Time: m.Params.Time})
				}
				continue // other notifications: the harness polls instead
			}
			d.mu.Lock()
			ch := d.res[*m.ID]
			delete(d.res, *m.ID)
			d.mu.Unlock()
			if ch != nil {
				ch <- m.rpcAnswer
			}
		}
	}()
	return d
}

// rpcLine is one line the daemon writes: a response (ID set) or a
// notification (Method set).
type rpcLine struct {
	ID     *int            `json:"id"`
	Method string          `json:"method"`
	Params lineParams      `json:"-"`
	Raw    json.RawMessage `json:"params"`
	rpcAnswer
}

// lineParams is what the harness reads of a notification's params: the
// count of offlineMessages, the message of roomMessage (other methods'
// params are not read: their fields differ, offlineMessages' from is a
// list).
type lineParams struct {
	Count                int64  // offlineMessages
	Room, ID, From, Time string // roomMessage
}

// maxLine bounds a line the harness reads from a daemon: a history page
// of 1,000 messages of up to 16 KiB each, with room for their JSON.
const maxLine = 32 << 20

// parseLine decodes one line of the daemon's output.
func parseLine(b []byte) (rpcLine, error) {
	var m rpcLine
	if len(b) > maxLine {
		return m, fmt.Errorf("daemon line of %d bytes: over %d", len(b), maxLine)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("daemon line: %w", err)
	}
	if m.ID == nil && m.Method == "" {
		return m, errors.New("daemon line: neither a response nor a notification")
	}
	var err error
	switch {
	case len(m.Raw) == 0:
	case m.Method == "offlineMessages":
		var p struct{ Count int64 }
		err = json.Unmarshal(m.Raw, &p)
		m.Params.Count = p.Count
	case m.Method == "roomMessage":
		var p struct{ Room, ID, From, Time string }
		err = json.Unmarshal(m.Raw, &p)
		m.Params.Room, m.Params.ID, m.Params.From, m.Params.Time = p.Room, p.ID, p.From, p.Time
	}
	if err != nil {
		return m, fmt.Errorf("daemon line: %s params: %w", m.Method, err)
	}
	return m, nil
}

// call makes one request and decodes its result into res (may be nil).
func (d *daemon) call(ctx context.Context, method string, params, res any) error {
	d.mu.Lock()
	d.id++
	id := d.id
	ch := make(chan rpcAnswer, 1)
	d.res[id] = ch
	d.mu.Unlock()
	defer func() { d.mu.Lock(); delete(d.res, id); d.mu.Unlock() }()
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		if d.exited() {
			return fmt.Errorf("%s: %w (daemon exited: %v)", method, errNodeDown, d.p.err)
		}
		return fmt.Errorf("%s: writing request: %w", method, err)
	}
	select {
	case a := <-ch:
		if a.Error != nil {
			return &RPCError{Method: method, Code: a.Error.Data.Code, Message: a.Error.Message}
		}
		if res != nil {
			return json.Unmarshal(a.Result, res)
		}
		return nil
	case <-d.p.done:
		// Killed under the call (the harness' SIGKILL does not wait for
		// the node's lock): the node is away, as if drawn while away.
		return fmt.Errorf("%s: %w (daemon exited: %v)", method, errNodeDown, d.p.err)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// exited reports whether the daemon's process has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.p.done:
		return true
	default:
		return false
	}
}

// stop ends the daemon as a user would: EOF on stdin, then (bounded) a
// kill.
//
// It returns once what the daemon wrote has been read, so the next
// daemon's notifications come after this one's.
func (d *daemon) stop() {
	d.in.Close()
	select {
	case <-d.p.done:
	case <-time.After(20 * time.Second):
		d.p.kill(syscall.SIGKILL)
	}
	select {
	case <-d.read:
	case <-time.After(10 * time.Second): // a line too long stopped the reader
	}
}
