// Package workers spreads a loop over as many goroutines as Go runs
// threads at once: for loops whose steps wait on small files, where one
// thread would wait on each in turn.
package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Each calls f(i) for every i in [0, n), a few at once, and returns when
// every call has returned. f must be safe to call concurrently.
func Each(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}
