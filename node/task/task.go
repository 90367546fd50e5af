// Package task keeps count of an owner's goroutines so that none outlives
// it: a Group starts goroutines (or admits work such as a stream handler)
// only while its owner is open, and Close cancels their context and waits
// for every one of them.
//
// The check "still open?" and the WaitGroup's Add happen under one lock, so
// nothing is admitted after Close began waiting — a bare ctx.Err() check
// followed by wg.Add would race with wg.Wait.
package task

import (
	"context"
	"sync"
)

// Group is a set of goroutines bound to one context. The zero value is not
// usable; make one with New.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New returns an open group whose context is derived from parent.
func New(parent context.Context) *Group {
	ctx, cancel := context.WithCancel(parent)
	return &Group{ctx: ctx, cancel: cancel}
}

// Context is cancelled when Close begins (or when the parent is).
func (g *Group) Context() context.Context { return g.ctx }

// Enter admits one unit of work; the caller must call Exit when it ends.
// It reports false, admitting nothing, once Close has begun.
func (g *Group) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Exit ends work admitted by Enter.
func (g *Group) Exit() { g.wg.Done() }

// Go runs f in a goroutine that Close waits for, with the group's context.
// It reports false, running nothing, once Close has begun.
func (g *Group) Go(f func(ctx context.Context)) bool {
	if !g.Enter() {
		return false
	}
	go func() {
		defer g.Exit()
		f(g.ctx)
	}()
	return true
}

// Cancel cancels the context and refuses new work, without waiting: an
// owner that must release something its goroutines block on (a host, a
// listener) does so between Cancel and Close.
func (g *Group) Cancel() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
}

// Close cancels the context, refuses new work and waits for the work
// admitted before. It is safe to call more than once; every call waits.
func (g *Group) Close() {
	g.Cancel()
	g.wg.Wait()
}
