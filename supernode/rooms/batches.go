package rooms

import "sync"

// batches holds items waiting per key and runs one runner per key with
// items waiting: the runner is started by the first item and ends when
// none is left, so an idle key costs nothing and no goroutine outlives
// the work (wait for the runners with wg). Items of one key are handed to
// the runner in the order they were added, a batch at a time.
type batches[K comparable, T any] struct {
	mu      sync.Mutex
	waiting map[K][]T // a key is here while its runner lives
	wg      sync.WaitGroup
}

// add queues item under k, starting run for k when no runner has it; run
// takes k's batches with next until next reports none.
func (b *batches[K, T]) add(k K, item T, run func(K)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting == nil {
		b.waiting = map[K][]T{}
	}
	queue, running := b.waiting[k]
	b.waiting[k] = append(queue, item)
	if !running {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			run(k)
		}()
	}
}

// next takes k's next batch: the first n waiting items, n given by size
// (at least 1, at most len(waiting)). With none waiting it forgets k, so
// the next add starts a runner again, and reports false: the runner ends.
func (b *batches[K, T]) next(k K, size func([]T) int) ([]T, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	queue := b.waiting[k]
	if len(queue) == 0 {
		delete(b.waiting, k)
		return nil, false
	}
	n := min(max(size(queue), 1), len(queue))
	b.waiting[k] = queue[n:]
	return queue[:n:n], true
}
