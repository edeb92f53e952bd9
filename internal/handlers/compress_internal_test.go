package handlers

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func zstdFrame(t *testing.T, data []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZstdWindowIsReadFromTheFrameHeader(t *testing.T) {
	data := bytes.Repeat([]byte("0.125, "), 1<<16)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = enc.Close() }()
	for _, tt := range []struct {
		name  string
		head  []byte
		limit uint64
		want  uint64
	}{
		{"a stream with a 1 MiB window", zstdFrame(t, data, zstd.WithWindowSize(1<<20)), 1 << 30, 1 << 20},
		{"a stream with a 16 MiB window", zstdFrame(t, data, zstd.WithWindowSize(16<<20)), 1 << 30, 16 << 20},
		{"a window over the body limit", zstdFrame(t, data, zstd.WithWindowSize(16<<20)), 1 << 20, 1 << 20},
		{"a single segment: its content size", enc.EncodeAll(data[:5000], nil), 1 << 30, 5000},
		{"a tiny single segment: the least window", enc.EncodeAll([]byte("[1]"), nil), 1 << 30, zstd.MinWindowSize},
		{"not a frame", []byte("{\"input\": [[1]]}"), 1 << 30, zstdDefaultWindow},
		{"a cut header", []byte{0x28, 0xb5, 0x2f, 0xfd}, 1 << 30, zstdDefaultWindow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := zstdWindow(tt.head[:min(len(tt.head), zstdHeaderMax)], tt.limit); got != tt.want {
				t.Errorf("zstdWindow = %d, want %d", got, tt.want)
			}
		})
	}
}
