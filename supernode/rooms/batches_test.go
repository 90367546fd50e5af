package rooms

import (
	"fmt"
	"sync"
	"testing"
)

// TestBatches: items of one key reach its runner in their order, in
// batches of the size asked; one runner per key at a time; a runner ends
// when its key is empty and the next add starts another; wg waits for
// them all.
func TestBatches(t *testing.T) {
	var b batches[string, int]
	var mu sync.Mutex
	got := map[string][][]int{}
	running := map[string]int{}
	release := make(chan struct{})
	run := func(k string) {
		mu.Lock()
		running[k]++
		if running[k] > 1 {
			t.Errorf("two runners for %q", k)
		}
		mu.Unlock()
		<-release // items added meanwhile wait for this runner
		for {
			batch, ok := b.next(k, func(q []int) int { return 2 })
			if !ok {
				break
			}
			mu.Lock()
			got[k] = append(got[k], batch)
			mu.Unlock()
		}
		mu.Lock()
		running[k]--
		mu.Unlock()
	}
	for i := range 5 {
		b.add("a", i, run)
	}
	b.add("b", 10, run)
	close(release)
	b.wg.Wait()
	if want := "[[0 1] [2 3] [4]]"; fmt.Sprint(got["a"]) != want || fmt.Sprint(got["b"]) != "[[10]]" {
		t.Fatalf("batches a %v, b %v", got["a"], got["b"])
	}
	b.add("a", 5, run) // a new runner, as the last one ended
	b.wg.Wait()
	if len(got["a"]) != 4 || got["a"][3][0] != 5 || len(b.waiting) != 0 {
		t.Fatalf("after the runner ended: %v, waiting %v", got["a"], b.waiting)
	}
}
