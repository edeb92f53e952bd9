package engine

import (
	"sync"
	"unsafe"
)

// minRecycled is the smallest result, in elements, worth recycling: below
// it the allocator and the collector are cheap next to the work. A
// training step's output (64×64 and up) is above it: a job that releases
// it each step allocates next to nothing, so two jobs training at full
// speed no longer keep the collector running all the time.
const minRecycled = 1 << 10

// minSkewed is the smallest result, in elements, that starts past the
// start of its allocation (see resultSkew): smaller ones come from the
// allocator's size classes, not from whole pages.
const minSkewed = 1 << 15

// maxRecycledBytes bounds the memory the recycler holds idle: room for one
// result of 4096×4096 float64, twice over. Unlike a sync.Pool, which a garbage collection empties (and with it the point of
// recycling, at random), what it holds stays until it is handed out again.
const maxRecycledBytes = 256 << 20

// recycler keeps the data of large results that callers handed back with
// Release, by element size and exact length, for the next result of that
// size. A fresh multi-megabyte make is zeroed, or faulted in page by page,
// on the allocating goroutine before any band starts: for a 1024×1024
// correlation with a 3×3 kernel that costs more than the arithmetic.
type recycler struct {
	mu    sync.Mutex
	free  map[recycleKey][]any // each a []T of the key's size and length
	bytes int                  // held in free
}

type recycleKey struct {
	size uintptr // in bytes, with spectrumTag set for the FFT path's spectra
	n    int
}

// bytes is the memory a buffer of the key holds.
func (k recycleKey) bytes() int { return int(k.size&^spectrumTag) * k.n }

func (r *recycler) get(k recycleKey) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.free[k]
	if len(list) == 0 {
		return nil
	}
	s := list[len(list)-1]
	list[len(list)-1] = nil
	if r.free[k] = list[:len(list)-1]; len(list) == 1 {
		delete(r.free, k)
	}
	r.bytes -= k.bytes()
	return s
}

func (r *recycler) put(k recycleKey, s any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := k.bytes()
	if size > maxRecycledBytes {
		return // the collector takes it
	}
	if r.free == nil || r.bytes+size > maxRecycledBytes {
		// Full: start over, so that sizes no longer asked for make room
		// for the ones that are.
		r.free, r.bytes = make(map[recycleKey][]any), 0
	}
	r.free[k] = append(r.free[k], s)
	r.bytes += size
}

// result returns a slice of n elements for a result that the caller writes
// in full: a recycled one (with stale contents) when there is one, else a
// new one. len and cap are both n.
func result[T Float](e *Engine, n int) []T {
	if n >= minRecycled {
		var z T
		if s, ok := e.recycled.get(recycleKey{unsafe.Sizeof(z), n}).([]T); ok {
			return s
		}
		if n < minSkewed {
			return make([]T, n)
		}
		// Large allocations start on a page, and so do large inputs. A
		// result that starts half a page further on keeps its stores
		// from sharing the low 12 address bits of the loads from a
		// same-sized input row (4K aliasing, which stalls the loads);
		// it costs 2 KiB per result.
		skew := resultSkew / int(unsafe.Sizeof(z))
		return make([]T, skew+n)[skew:][:n:n]
	}
	return make([]T, n)
}

// resultSkew is how far, in bytes, a large result starts past the start of
// its allocation.
const resultSkew = 2048

// Release hands data, the Data of a result of Conv2D computed by e, back
// to e for a later result of the same size. The caller must not use data
// after Release, nor release it twice; data it did not get from Conv2D on
// e must not be released. Releasing is optional (data never
// released is collected as usual) and pays off for large results made over
// and over, such as a service answering one request after another.
func Release[T Float](e *Engine, data []T) {
	n := len(data)
	if n < minRecycled || cap(data) != n {
		return
	}
	var z T
	e.recycled.put(recycleKey{unsafe.Sizeof(z), n}, data)
}
