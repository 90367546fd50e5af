//go:build linux && cgo && !wayland

package app

/*
#cgo LDFLAGS: -lX11 -lXss
#include <stdlib.h>
#include <X11/Xlib.h>
#include <X11/extensions/scrnsaver.h>

// es_idle asks the X server's screen-saver extension how long no key or
// pointer event reached any client: the desktop-wide idle time. It returns
// -1 when the extension is missing.
static long es_idle(Display *d) {
	int event, error;
	if (!XScreenSaverQueryExtension(d, &event, &error)) return -1;
	XScreenSaverInfo *info = XScreenSaverAllocInfo();
	if (!info) return -1;
	long idle = -1;
	if (XScreenSaverQueryInfo(d, DefaultRootWindow(d), info)) idle = (long)info->idle;
	XFree(info);
	return idle;
}

// es_focus is the window that has the keyboard focus.
static unsigned long es_focus(Display *d) {
	Window w;
	int revert;
	XGetInputFocus(d, &w, &revert);
	return (unsigned long)w;
}
*/
import "C"

import (
	"sync"
	"time"
)

// x11 is our own connection to the X server (separate from the toolkit's,
// which is not ours to use from other goroutines), for the idle time and
// the focused window. Calls are serialised: Xlib connections are not safe
// for concurrent use without XInitThreads.
type x11 struct {
	mu  sync.Mutex
	dpy *C.Display
}

var (
	x11Once sync.Once
	x11Conn *x11
)

// openX11 connects once per process; nil when there is no X server (a
// Wayland session without Xwayland, a test without a display).
func openX11() *x11 {
	x11Once.Do(func() { x11Conn = dialX11() })
	return x11Conn
}

// dialX11 opens a connection to the display $DISPLAY names, or returns nil.
func dialX11() *x11 {
	if d := C.XOpenDisplay(nil); d != nil {
		return &x11{dpy: d}
	}
	return nil
}

// close ends a connection from dialX11.
func (x *x11) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	C.XCloseDisplay(x.dpy)
}

// Idle implements idleSource with the XScreenSaver extension.
func (x *x11) Idle() (time.Duration, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ms := C.es_idle(x.dpy)
	if ms < 0 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// hasIdle reports whether the server has the screen-saver extension.
func (x *x11) hasIdle() bool {
	_, ok := x.Idle()
	return ok
}

// focusedWindow is the X window that has the keyboard focus.
func (x *x11) focusedWindow() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return uint64(C.es_focus(x.dpy))
}
