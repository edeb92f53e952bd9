package tensor_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/tensor"
)

// pieces is a reader that hands out its bytes size at a time, as a
// connection might.
type pieces struct {
	b    []byte
	size int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.size)], p.b)
	p.b = p.b[n:]
	return n, nil
}

// checkDecode holds Decode, through the given window and pieces, to Parse.
func checkDecode(t *testing.T, raw []byte, lim tensor.Limits, window, piece int) {
	t.Helper()
	want, werr := tensor.Parse(raw, lim)
	for _, size := range []int64{0, int64(len(raw))} {
		got, err := tensor.Decode(&pieces{b: raw, size: piece}, lim, window, size)
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("Decode(%.200q, %+v, window %d, pieces of %d) = %v, Parse says %v", raw, lim, window, piece, err, werr)
		}
		var te, wte *tensor.Error
		if strings.HasSuffix(fmt.Sprint(err), ": malformed JSON") {
			t.Fatalf("Decode(%.200q) = %v: the grammar did not say what is wrong", raw, err)
		}
		if werr != nil {
			if !errors.As(err, &te) || !errors.As(werr, &wte) || *te != *wte {
				t.Fatalf("Decode(%.200q) = %#v, Parse says %#v", raw, err, werr)
			}
			continue
		}
		if !sameDense(want, got) {
			t.Fatalf("Decode(%.200q, window %d, pieces of %d) = %.200v, Parse reads %.200v", raw, window, piece, got, want)
		}
	}
}

// wideMatrix writes an h×w matrix of varied numbers with the given
// separator, a comma and perhaps white space, between elements and rows.
func wideMatrix(h, w int, sep string, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.WriteString("[")
	for i := range h {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString("[")
		for j := range w {
			if j > 0 {
				b.WriteString(sep)
			}
			fmt.Fprint(&b, []any{r.Float64()*2 - 1, r.IntN(100), r.NormFloat64() * 1e-9}[r.IntN(3)])
		}
		b.WriteString("]")
	}
	b.WriteString("]")
	return b.Bytes()
}

func TestDecodeAgreesWithParse(t *testing.T) {
	large := wideMatrix(300, 40, ",", 1)
	docs := [][]byte{
		large, wideMatrix(50, 33, ", ", 2), wideMatrix(20, 17, " ,\n", 3),
		[]byte(strings.Replace(string(large), "]", ",1]", 123)),         // ragged
		[]byte(strings.Replace(string(large), "0.", `"x"`, 1)),          // a string for a number
		[]byte(strings.Replace(string(large), "0.5", "0.5x", 1)),        // malformed
		[]byte(strings.Replace(string(large), "],[", "],[1e999],[", 1)), // out of range, then ragged
		[]byte(string(large[:len(large)-1])),                            // cut short
		[]byte(string(large) + " ]"),                                    // trailing
		[]byte("[[[" + strings.Repeat("1, ", 100) + "1]], [[2]]]"),      // rank 3, ragged
		[]byte(`[[1, 2], [3, 4]] ` + "\n"), []byte(" [[1e3, -0]] "), []byte(`[[0.` + strings.Repeat("1", 300) + `]]`),
	}
	for _, doc := range docs {
		for _, lim := range []tensor.Limits{{}, {MinRank: 3, MaxRank: 4}, {MaxElements: 5000}, {MaxRank: 1}} {
			for _, window := range []int{16, 100, 4096, 1 << 20} {
				for _, piece := range []int{1, 7, 1 << 20} {
					if piece == 1 && len(doc) > 20000 {
						continue
					}
					checkDecode(t, doc, lim, window, piece)
				}
			}
		}
	}
}

// A large tensor from a stream of known size takes no more room than its
// data, with the rows read ahead.
func TestDecodeMakesRoomOnce(t *testing.T) {
	raw := wideMatrix(2000, 300, ",", 4)
	d, err := tensor.Decode(bytes.NewReader(raw), tensor.Limits{}, 1<<16, int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Data); n != 2000*300 || cap(d.Data) > n+n/16 {
		t.Errorf("len %d, cap %d", n, cap(d.Data))
	}
}

func FuzzDecodeStream(f *testing.F) {
	for _, seed := range []string{
		`[[0,1,2],[3,4,5],[6,7,8]]`, ` [ [ 1e3 , -2.5E-3 ] ] `, `[[1],[2,3]]`, `[]`, `[[]]`, `[1,2]`, `[[1,"2"]]`,
		`[[1e999]]`, `[[[1,2]],[[3,4]]]`, `[1 2]`, `[1,]`, `[[1,2]`, `[1]x`, ``, `[{"a":[1,}]`, "[1,\n2\t,\r3 ]",
		string(wideMatrix(40, 20, ",", 5)), string(wideMatrix(4, 20, ", ", 6)),
	} {
		f.Add([]byte(seed), uint8(16), uint8(5), uint8(0), uint16(0))
	}
	f.Fuzz(func(t *testing.T, raw []byte, window, piece, rank uint8, maxElements uint16) {
		lim := tensor.Limits{MinRank: int(rank % 4), MaxRank: int(rank / 4 % 5), MaxElements: int(maxElements)}
		if lim.MaxRank > 0 && lim.MinRank > lim.MaxRank {
			lim.MinRank = 0
		}
		checkDecode(t, raw, lim, int(window), int(piece%32)+1)
	})
}
