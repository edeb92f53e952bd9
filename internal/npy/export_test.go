package npy

import "io"

// ReadPortable and WritePortable run the byte-order independent code
// paths that big-endian hosts take, so that they are tested everywhere.
func ReadPortable(r io.Reader, lim Limits) (Array, error) { return read(r, lim, false) }

func WritePortable(w io.Writer, a Array) error { return write(w, a, false) }
