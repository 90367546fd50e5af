// Package xvfb runs a private X display for the programs that drive the
// desktop app as a person would (scripts/screenshots, scripts/membench):
// an Xvfb server on a free display number, and xdotool and ImageMagick's
// import aimed at it.
package xvfb

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// How long Window and Windows look for a window before giving up.
const (
	pollEvery = 200 * time.Millisecond
	findFor   = 60 * time.Second
)

// Display is a running Xvfb server. Its methods run xdotool and import on it.
type Display struct {
	// Name is the display as DISPLAY takes it, e.g. ":160".
	Name string
	cmd  *exec.Cmd
}

// Start runs Xvfb (1280×800, no TCP) on the first free display number from
// first on, and waits until it accepts clients.
func Start(first int) (*Display, error) {
	for n := first; n < first+60; n++ {
		lock, sock := fmt.Sprintf("/tmp/.X%d-lock", n), fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		if stale(lock) {
			// Left by an X server that was killed: its number is free.
			os.Remove(lock)
			os.Remove(sock)
		}
		if exists(sock) || exists(lock) {
			continue
		}
		d := &Display{Name: fmt.Sprintf(":%d", n)}
		d.cmd = exec.Command("Xvfb", d.Name, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := d.cmd.Start(); err != nil {
			return nil, err
		}
		for range 50 {
			// The socket file appears before the server listens on it; a
			// connection that succeeds means the server is up.
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return d, nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		d.Stop()
		return nil, fmt.Errorf("Xvfb %s did not start", d.Name)
	}
	return nil, errors.New("no free X display")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Stop ends the Xvfb server and waits for it. It asks first (SIGTERM),
// so the server removes its lock file and socket: killed, it leaves them,
// and every run took one more display number until none was free. A server
// that died without removing them (killed after 5 s, or crashed) has its
// files removed here, so the number is free either way.
func (d *Display) Stop() {
	defer d.removeFiles()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = d.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

// removeFiles removes the display's lock file and socket if the lock names
// no running process: the server is gone, and nobody else took the number.
func (d *Display) removeFiles() {
	var n int
	fmt.Sscanf(d.Name, ":%d", &n)
	lock := fmt.Sprintf("/tmp/.X%d-lock", n)
	if exists(lock) && !stale(lock) {
		return
	}
	os.Remove(lock)
	os.Remove(fmt.Sprintf("/tmp/.X11-unix/X%d", n))
}

// stale reports whether the X lock file at path names a process that is
// no longer running (the lock holds the server's PID as text).
func stale(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	// Signal 0 checks that the process exists without touching it.
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Run runs xdotool with args on the display and returns what it printed; a
// failure is logged, as a person would notice a key that did nothing.
func (d *Display) Run(args ...string) string {
	cmd := exec.Command("xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+d.Name)
	out, err := cmd.Output()
	if err != nil {
		log.Printf("xdotool %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// Window waits for a visible window whose title matches the pattern and
// returns its ID.
func (d *Display) Window(ctx context.Context, pattern string) (string, error) {
	ids, err := d.Windows(ctx, pattern, 1)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// Windows waits until at least n visible windows' titles match the pattern
// and returns their IDs.
func (d *Display) Windows(ctx context.Context, pattern string, n int) ([]string, error) {
	for deadline := time.Now().Add(findFor); time.Now().Before(deadline); {
		cmd := exec.CommandContext(ctx, "xdotool", "search", "--onlyvisible", "--name", pattern)
		cmd.Env = append(os.Environ(), "DISPLAY="+d.Name)
		if out, err := cmd.Output(); err == nil && len(strings.Fields(string(out))) >= n {
			return strings.Fields(string(out)), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	return nil, fmt.Errorf("fewer than %d windows %q appeared", n, pattern)
}

// Capture saves one window (just its content: Xvfb runs no window manager)
// as a PNG at path; window "root" is the whole screen.
func (d *Display) Capture(window, path string) error {
	cmd := exec.Command("import", "-display", d.Name, "-window", window, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("import %s: %v: %s", path, err, out)
	}
	return nil
}
