package engine

import (
	"sync"
	"unsafe"
)

// minRecycled is the smallest result, in elements, worth recycling: below
// it the allocator is cheap next to the work.
const minRecycled = 1 << 15

// maxRecycledSizes bounds how many distinct result sizes the recycler
// keeps pools for, so that a stream of ever-new shapes cannot grow it.
const maxRecycledSizes = 64

// recycler keeps the data of large results that callers handed back with
// Release, by element size and exact length, for the next result of that
// size. A fresh multi-megabyte make is zeroed, or faulted in page by page,
// on the allocating goroutine before any band starts: for a 1024×1024
// correlation with a 3×3 kernel that costs three times the arithmetic.
// The pools are sync.Pools, so buffers nobody asks for again go back to the
// garbage collector within two cycles.
type recycler struct {
	mu    sync.Mutex
	pools map[recycleKey]*sync.Pool
}

type recycleKey struct {
	size uintptr
	n    int
}

func (r *recycler) pool(k recycleKey, create bool) *sync.Pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[k]
	if p == nil && create && len(r.pools) < maxRecycledSizes {
		if r.pools == nil {
			r.pools = make(map[recycleKey]*sync.Pool)
		}
		p = new(sync.Pool)
		r.pools[k] = p
	}
	return p
}

// result returns a slice of n elements for a result that the caller writes
// in full: a recycled one (with stale contents) when there is one, else a
// new one. len and cap are both n.
func result[T Float](e *Engine, n int) []T {
	if n >= minRecycled {
		var z T
		if p := e.recycled.pool(recycleKey{unsafe.Sizeof(z), n}, false); p != nil {
			if s, ok := p.Get().(*[]T); ok {
				return *s
			}
		}
	}
	return make([]T, n)
}

// Release hands data, the Data of a result of Conv2D or Correlate computed
// by e, back to e for a later result of the same size. The caller must not
// use data after Release, nor release it twice; data it did not get from
// those calls of e must not be released. Releasing is optional (data never
// released is collected as usual) and pays off for large results made over
// and over, such as a service answering one request after another.
func Release[T Float](e *Engine, data []T) {
	n := len(data)
	if n < minRecycled || cap(data) != n {
		return
	}
	var z T
	if p := e.recycled.pool(recycleKey{unsafe.Sizeof(z), n}, true); p != nil {
		p.Put(&data)
	}
}
