package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// The binary forms every store keeps, little-endian throughout.
//
// A tensor is 'T', a format version (1), the element size (4 for float32,
// 8 for float64), the rank, the dimensions as uint32 each, then the
// elements. float32 is chosen whenever every element is exactly a float32,
// so the encoding never loses a value and float32 jobs cost half.
//
// An optimizer state is 'O', a version (1), the step as a uvarint, the
// number of Buf and of Sq slices as a byte each, then each slice as a
// rank-1 tensor.
const (
	tensorMagic = 'T'
	stateMagic  = 'O'
	codecV1     = 1
	// maxRank bounds what a decoder accepts; stores hold at most 4-D.
	maxRank = 8
)

// ErrCorrupt is stored bytes that do not decode.
var ErrCorrupt = errors.New("corrupt stored value")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// EncodeTensor encodes a tensor; a nil shape and data (no tensor) is nil.
func EncodeTensor(shape []int, data []float64) []byte {
	if shape == nil && data == nil {
		return nil
	}
	size := 4
	for _, v := range data {
		if float64(float32(v)) != v && !math.IsNaN(v) {
			size = 8
			break
		}
	}
	b := make([]byte, 0, 4+4*len(shape)+size*len(data))
	b = append(b, tensorMagic, codecV1, byte(size), byte(len(shape)))
	for _, d := range shape {
		b = binary.LittleEndian.AppendUint32(b, uint32(d))
	}
	for _, v := range data {
		if size == 4 {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

// DecodeTensor decodes one tensor from the front of b and returns the rest.
func DecodeTensor(b []byte) (shape []int, data []float64, rest []byte, err error) {
	if len(b) < 4 || b[0] != tensorMagic || b[1] != codecV1 {
		return nil, nil, nil, corrupt("not a version 1 tensor")
	}
	size, rank := int(b[2]), int(b[3])
	if (size != 4 && size != 8) || rank > maxRank || len(b) < 4+4*rank {
		return nil, nil, nil, corrupt("tensor header: element size %d, rank %d", size, rank)
	}
	b = b[4:]
	shape = make([]int, rank)
	for i := range shape {
		shape[i] = int(binary.LittleEndian.Uint32(b[4*i:]))
	}
	// A zero extent makes the tensor empty whatever the others are; else
	// the running product only grows, so it is held to the bytes there are
	// as it goes, before it can overflow.
	n := 0
	if !slices.Contains(shape, 0) {
		n = 1
		for i, d := range shape {
			n *= d
			if n > len(b) {
				return nil, nil, nil, corrupt("tensor of shape %v in %d bytes", shape[:i+1], len(b))
			}
		}
	}
	b = b[4*rank:]
	if len(b) < n*size {
		return nil, nil, nil, corrupt("tensor of shape %v in %d bytes", shape, len(b))
	}
	data = make([]float64, n)
	for i := range data {
		if size == 4 {
			data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		} else {
			data[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return shape, data, b[n*size:], nil
}

// encodeDense encodes t, nil for an empty tensor.
func encodeDense(t tensor.Dense) []byte { return EncodeTensor(t.Shape, t.Data) }

// encodeVector encodes a 1-D slice; nil stays nil (SQL NULL).
func encodeVector(v []float64) []byte {
	if v == nil {
		return nil
	}
	return EncodeTensor([]int{len(v)}, v)
}

// decodeWhole decodes b as exactly one tensor; nil is the empty tensor.
func decodeWhole(b []byte) (tensor.Dense, error) {
	if b == nil {
		return tensor.Dense{}, nil
	}
	shape, data, rest, err := DecodeTensor(b)
	if err == nil && len(rest) != 0 {
		err = corrupt("%d bytes after a tensor", len(rest))
	}
	return tensor.Dense{Shape: shape, Data: data}, err
}

// decodeVector decodes a 1-D slice; nil stays nil.
func decodeVector(b []byte) ([]float64, error) {
	if b == nil {
		return nil, nil
	}
	t, err := decodeWhole(b)
	if err == nil && len(t.Shape) != 1 {
		err = corrupt("a vector of rank %d", len(t.Shape))
	}
	return t.Data, err
}

// EncodeOptState encodes an optimizer state; the zero state is nil.
func EncodeOptState(s train.OptState) []byte {
	if s.Step == 0 && s.Buf == nil && s.Sq == nil {
		return nil
	}
	b := []byte{stateMagic, codecV1}
	b = binary.AppendUvarint(b, uint64(s.Step))
	b = append(b, byte(len(s.Buf)), byte(len(s.Sq)))
	for _, v := range append(append([][]float64(nil), s.Buf...), s.Sq...) {
		b = append(b, EncodeTensor([]int{len(v)}, v)...)
	}
	return b
}

// DecodeOptState decodes EncodeOptState's bytes; nil is the zero state.
func DecodeOptState(b []byte) (train.OptState, error) {
	var s train.OptState
	if b == nil {
		return s, nil
	}
	if len(b) < 2 || b[0] != stateMagic || b[1] != codecV1 {
		return s, corrupt("not a version 1 optimizer state")
	}
	step, n := binary.Uvarint(b[2:])
	if n <= 0 || len(b) < 2+n+2 || step > math.MaxInt32 {
		return s, corrupt("optimizer state header")
	}
	s.Step = int(step)
	b = b[2+n:]
	nbuf, nsq := int(b[0]), int(b[1])
	b = b[2:]
	for i := range nbuf + nsq {
		shape, data, rest, err := DecodeTensor(b)
		if err != nil {
			return s, err
		}
		if len(shape) != 1 {
			return s, corrupt("optimizer slice of rank %d", len(shape))
		}
		if i < nbuf {
			s.Buf = append(s.Buf, data)
		} else {
			s.Sq = append(s.Sq, data)
		}
		b = rest
	}
	if len(b) != 0 {
		return s, corrupt("%d bytes after an optimizer state", len(b))
	}
	return s, nil
}

// LossChunk is a run of consecutive steps' losses, First to Last, as one
// stored value: the losses of one checkpoint. Data is a rank-1 tensor, so
// a float32 job's history costs 4 bytes a step plus one row per chunk.
type LossChunk struct {
	First, Last int
	Data        []byte
}

// maxChunk bounds the steps in one chunk, so that a page of losses never
// decodes much more than it returns.
const maxChunk = 4096

// LossChunks splits points into runs of consecutive steps, one chunk each.
func LossChunks(points []LossPoint) []LossChunk {
	var out []LossChunk
	for len(points) > 0 {
		n := 1
		for n < len(points) && n < maxChunk && points[n].Step == points[n-1].Step+1 {
			n++
		}
		v := make([]float64, n)
		for i, p := range points[:n] {
			v[i] = p.Loss
		}
		out = append(out, LossChunk{First: points[0].Step, Last: points[n-1].Step, Data: encodeVector(v)})
		points = points[n:]
	}
	return out
}

// Points decodes the chunk.
func (c LossChunk) Points() ([]LossPoint, error) {
	v, err := decodeVector(c.Data)
	if err != nil {
		return nil, err
	}
	if len(v) != c.Last-c.First+1 {
		return nil, corrupt("loss chunk %d..%d holds %d values", c.First, c.Last, len(v))
	}
	out := make([]LossPoint, len(v))
	for i, l := range v {
		out[i] = LossPoint{Step: c.First + i, Loss: l}
	}
	return out, nil
}

// Truncate keeps the steps before step; ok is false when none remain.
func (c LossChunk) Truncate(step int) (LossChunk, bool, error) {
	if step <= c.First {
		return LossChunk{}, false, nil
	}
	pts, err := c.Points()
	if err != nil || step > c.Last {
		return c, true, err
	}
	return LossChunks(pts[:step-c.First])[0], true, nil
}

// ChunkRows is what ScanLosses reads of a query's result: database/sql's
// rows and pgx's both have it.
type ChunkRows interface {
	Next() bool
	Scan(dest ...any) error
}

// ScanLosses reads rows of (first step, last step, data) chunks in step
// order and returns up to limit points with step > afterStep, reading no
// further chunk once the page is full. The caller checks the rows' error.
func ScanLosses(rows ChunkRows, afterStep, limit int) ([]LossPoint, error) {
	out := []LossPoint{}
	for len(out) < limit && rows.Next() {
		var ch LossChunk
		if err := rows.Scan(&ch.First, &ch.Last, &ch.Data); err != nil {
			return nil, err
		}
		page, err := PageLosses([]LossChunk{ch}, afterStep, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
	}
	return out, nil
}

// PageLosses returns up to limit points with step > afterStep from chunks
// in step order.
func PageLosses(chunks []LossChunk, afterStep, limit int) ([]LossPoint, error) {
	out := []LossPoint{}
	for _, c := range chunks {
		pts, err := c.Points()
		if err != nil {
			return nil, err
		}
		for _, p := range pts {
			if p.Step > afterStep && len(out) < limit {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
