//go:build linux && cgo && !wayland

package app

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestX11Idle checks the XScreenSaver idle time against a real X server: it
// grows while nobody touches the (virtual) keyboard and mouse and drops
// when the pointer moves. Skipped where Xvfb or xdotool is missing
// (`make deps` installs them).
func TestX11Idle(t *testing.T) {
	for _, tool := range []string{"Xvfb", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("starts a display server")
	}
	display := ""
	for n := 200; n < 260 && display == ""; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		cmd := exec.Command("Xvfb", fmt.Sprintf(":%d", n), "-screen", "0", "320x240x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for range 50 {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				display = fmt.Sprintf(":%d", n)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if display == "" {
		t.Fatal("no X server started")
	}
	t.Setenv("DISPLAY", display)
	x := dialX11()
	if x == nil {
		t.Fatalf("cannot open %s", display)
	}
	defer x.close()
	if !x.hasIdle() {
		t.Skip("this X server lacks the MIT-SCREEN-SAVER extension")
	}
	time.Sleep(1200 * time.Millisecond)
	before, _ := x.Idle()
	if before < time.Second {
		t.Fatalf("idle %v after 1.2 s without input", before)
	}
	move := exec.Command("xdotool", "mousemove", "100", "100")
	move.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := move.CombinedOutput(); err != nil {
		t.Fatalf("xdotool: %v: %s", err, out)
	}
	after, ok := x.Idle()
	if !ok || after >= before || after > 500*time.Millisecond {
		t.Errorf("idle %v after the pointer moved (was %v)", after, before)
	}
}
