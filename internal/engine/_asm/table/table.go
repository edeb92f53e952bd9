// Package table emits the constant tables (permute indices) that the
// generators' routines load, shared by the commands that need them.
package table

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// Emit declares a read-only table called name holding v, each value
// size bytes wide (4 or 8), and returns it as a memory operand.
func Emit(name string, size int, v []uint64) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, x := range v {
		if size == 4 {
			DATA(4*i, U32(x))
		} else {
			DATA(8*i, U64(x))
		}
	}
	return m
}
