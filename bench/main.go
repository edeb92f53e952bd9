// Command bench times the engine's Conv2D against PyTorch, scipy and OpenCV on the
// same inputs and prints one table. Run it from the module root:
//
//	go run ./bench            # full table, about ten minutes
//	go run ./bench -quick     # the small sizes only
//
// The engine runs in this process with 2 workers; PyTorch and OpenCV (2
// threads each) and scipy run in /usr/bin/python3 on the raw arrays this program writes to a
// temporary folder. See bench/README.md.
package main

import (
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
)

//go:embed ref.py
var refPy []byte

// Peak FMA throughput per core in GFLOP/s: two full-width 512-bit FMAs a
// cycle at the ~3.1-3.2 GHz this machine holds under load, measured with a
// loop of 12 independent ZMM FMAs (float64 is half the lanes).
const peak32, peak64 = 216.0, 108.0

const workers = 2

type workload struct {
	Name        string `json:"name"`
	DType       string `json:"dtype"`
	Kind        string `json:"kind"` // "fwd" or "train"
	XShape      [4]int `json:"xshape"`
	WShape      [4]int `json:"wshape"`
	OShape      [4]int `json:"oshape"`
	Stride      [2]int `json:"stride"`
	Pad         [2]int `json:"pad"`
	X           string `json:"x"`
	W           string `json:"w"`
	Y           string `json:"y,omitempty"`
	Out         string `json:"out,omitempty"`
	Scipy       bool   `json:"scipy"`
	ScipyDirect bool   `json:"scipy_direct"`
	TorchSkip   bool   `json:"torch_skip"`
	// Border is "" for a valid correlation, else the border of a "same"
	// one: "zeros", "reflect" or "replicate" (OpenCV's BORDER_CONSTANT,
	// BORDER_REFLECT_101 and BORDER_REPLICATE).
	Border string `json:"border"`
	single bool   // single-channel: report GB/s
	flops  float64
	oursMS float64
	oursN  int
	// cores is the process's CPU time over the wall time of the timed
	// runs: below the workers' count for a row that splits into bands,
	// the row shared the cores with something else (0: not measured).
	cores  float64
	method string
}

type pyResult struct {
	Name        string  `json:"name"`
	DType       string  `json:"dtype"`
	TorchMS     float64 `json:"torch_ms"`
	TorchN      int     `json:"torch_n"`
	TorchMaxRel float64 `json:"torch_maxrel"`
	ScipyMS     float64 `json:"scipy_ms"`
	ScipyN      int     `json:"scipy_n"`
	ScipyFFTMS  float64 `json:"scipy_fft_ms"`
	ScipyFFTN   int     `json:"scipy_fft_n"`
	CVMS        float64 `json:"cv_ms"`
	CVN         int     `json:"cv_n"`
	CVMaxRel    float64 `json:"cv_maxrel"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are bench's command-line flags.
type options struct {
	reps   int
	quick  bool
	py     string
	noPy   bool
	method engine.Method
	keep   *regexp.Regexp
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.reps, "reps", 7, "timed repetitions after two warm-up calls; the median is reported")
	fs.BoolVar(&o.quick, "quick", false, "only the 256 and 1024 single-channel sizes and the small layers")
	fs.StringVar(&o.py, "python", "/usr/bin/python3", "Python with PyTorch, scipy and OpenCV")
	fs.BoolVar(&o.noPy, "nopython", false, "time the engine only")
	method := fs.String("method", "auto", "engine method: auto, direct, fft or winograd")
	only := fs.String("only", "", "run only the workloads whose name matches this regular expression")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	keep, err := regexp.Compile(*only)
	if err != nil {
		return o, fmt.Errorf("-only: %w", err)
	}
	methods := map[string]engine.Method{"auto": engine.MethodAuto, "direct": engine.MethodDirect, "fft": engine.MethodFFT, "winograd": engine.MethodWinograd}
	m, ok := methods[*method]
	if !ok {
		return o, fmt.Errorf("unknown -method %q", *method)
	}
	o.keep, o.method = keep, m
	return o, nil
}

func run(args []string, stdout io.Writer) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "corr2d-bench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	e, err := engine.New(engine.Config{Workers: workers}, nil)
	if err != nil {
		return err
	}
	defer e.Close()

	ws := slices.DeleteFunc(workloads(o.quick), func(w *workload) bool { return !o.keep.MatchString(w.Name) })
	for i, w := range ws {
		var err error
		if w.DType == "float32" {
			err = runOurs[float32](e, w, dir, i, o.reps, o.method)
		} else {
			err = runOurs[float64](e, w, dir, i, o.reps, o.method)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", w.Name, w.DType, err)
		}
		fmt.Fprintf(os.Stderr, "ours  %-28s %s %9.3f ms (%s, %.1f cores)\n", w.Name, w.DType, w.oursMS, w.method, w.cores)
	}

	py1 := map[string]pyResult{}
	versions := "not run"
	if !o.noPy {
		if versions, err = runPython(o.py, dir, ws, o.reps, py1); err != nil {
			return err
		}
	}
	printTable(stdout, ws, py1, versions, o.reps)
	return nil
}

// workloads are the table's rows, in order: single-channel valid rows for
// each size, then the padded ones, then the layers and training steps.
func workloads(quick bool) []*workload {
	sizes := []int{256, 1024, 4096}
	if quick {
		sizes = sizes[:2]
	}
	var ws []*workload
	for _, dt := range []string{"float32", "float64"} {
		for _, n := range sizes {
			kernels := []int{3, 5, 11, 31}
			if n >= 1024 {
				// The FFT path's territory.
				kernels = append(kernels, 63, 127)
			}
			for _, k := range kernels {
				flops := 2 * float64(n*n*k*k)
				ws = append(ws, &workload{
					Name: fmt.Sprintf("1ch %dx%d k%d", n, n, k), DType: dt, Kind: "fwd",
					XShape: [4]int{1, 1, n, n}, WShape: [4]int{1, 1, k, k},
					Stride: [2]int{1, 1}, Scipy: true, single: true,
					ScipyDirect: flops < scipyDirectMax,
					TorchSkip:   torchSkip(dt, flops),
				})
			}
		}
		ws = append(ws, paddedWorkloads(dt, sizes)...)
		ws = append(ws,
			&workload{Name: "N8 C64->64 56x56 k3 p1", DType: dt, Kind: "fwd", XShape: [4]int{8, 64, 56, 56}, WShape: [4]int{64, 64, 3, 3}, Stride: [2]int{1, 1}, Pad: [2]int{1, 1}},
			&workload{Name: "N1 C3->64 224x224 k7 s2 p3", DType: dt, Kind: "fwd", XShape: [4]int{1, 3, 224, 224}, WShape: [4]int{64, 3, 7, 7}, Stride: [2]int{2, 2}, Pad: [2]int{3, 3}},
			&workload{Name: "train d2l 6x8 k1x2", DType: dt, Kind: "train", XShape: [4]int{1, 1, 6, 8}, WShape: [4]int{1, 1, 1, 2}, Stride: [2]int{1, 1}},
			&workload{Name: "train 512x512 k3", DType: dt, Kind: "train", XShape: [4]int{1, 1, 512, 512}, WShape: [4]int{1, 1, 3, 3}, Stride: [2]int{1, 1}},
		)
	}
	return ws
}

// runPython times PyTorch, scipy and OpenCV on the inputs runOurs wrote,
// filling res by row, and returns the libraries' versions.
func runPython(py, dir string, ws []*workload, reps int, res map[string]pyResult) (string, error) {
	spec := filepath.Join(dir, "spec.json")
	b, _ := json.Marshal(map[string]any{"reps": reps, "workloads": ws})
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		return "", err
	}
	script := filepath.Join(dir, "ref.py")
	if err := os.WriteFile(script, refPy, 0o600); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(context.Background(), py, script, spec)
	cmd.Stderr = os.Stderr
	// glibc's malloc maps each large array afresh and unmaps it when freed,
	// so every call of the libraries faults its output's pages in again.
	// On a VM where a fault costs ~16 µs that alone made PyTorch's 7x7
	// stem 15 ms instead of 0.8. Keeping freed memory in the process, as our
	// engine's recycler does, measures the libraries' compute and not the
	// host's paging.
	cmd.Env = append(os.Environ(),
		"MALLOC_MMAP_THRESHOLD_=4294967296",
		"MALLOC_TRIM_THRESHOLD_=68719476736",
		"MALLOC_TOP_PAD_=268435456")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s ref.py: %w", py, err)
	}
	var got struct {
		Torch, Scipy string
		Results      []pyResult
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return "", fmt.Errorf("ref.py output: %w", err)
	}
	for _, r := range got.Results {
		res[r.Name+r.DType] = r
	}
	return "torch " + got.Torch + ", scipy " + got.Scipy, nil
}

// paddedWorkloads are the single-channel "same" correlations with each
// border, on 1024² and 4096², where OpenCV's filter2D joins the table.
func paddedWorkloads(dt string, sizes []int) []*workload {
	var ws []*workload
	for _, n := range sizes {
		if n < 1024 {
			continue
		}
		for _, k := range []int{3, 5, 11, 31} {
			for _, b := range []string{"zeros", "reflect", "replicate"} {
				flops := 2 * float64(n*n*k*k)
				ws = append(ws, &workload{
					Name: fmt.Sprintf("1ch %dx%d k%d same %s", n, n, k, b), DType: dt, Kind: "fwd",
					XShape: [4]int{1, 1, n, n}, WShape: [4]int{1, 1, k, k},
					Stride: [2]int{1, 1}, Border: b, Scipy: true, single: true,
					ScipyDirect: flops < scipyDirectMax,
					TorchSkip:   torchSkip(dt, flops),
				})
			}
		}
	}
	return ws
}

// scipyDirectMax is the work past which scipy's direct correlation is not
// run: at ~1.5 GFLOP/s one call would take several seconds.
const scipyDirectMax = 4e9

// torchSkip says whether PyTorch is left out of a single-channel row of
// the given work: its float64 path runs such convolutions at ~0.06 GFLOP/s
// for big kernels (minutes past 2.5 GFLOP), and even float32 would take a
// minute or more on 4096² with 63×63 or 127×127 kernels.
func torchSkip(dt string, flops float64) bool {
	if dt == "float64" {
		return flops > 2.5e9
	}
	return flops > 40e9
}

var borders = map[string]engine.Border{"zeros": engine.BorderZeros, "reflect": engine.BorderReflect, "replicate": engine.BorderReplicate}

// runOurs writes w's inputs for Python and times the engine on them.
func runOurs[T engine.Float](e *engine.Engine, w *workload, dir string, i, reps int, m engine.Method) error {
	r := rand.New(rand.NewPCG(uint64(i), 4))
	x := randTensor[T](r, w.XShape)
	k := randTensor[T](r, w.WShape)
	c := engine.Conv{Stride: w.Stride, Pad: [4]int{w.Pad[0], w.Pad[0], w.Pad[1], w.Pad[1]}, Method: m}
	if w.Border != "" {
		c.Padding, c.Border = engine.PadSame, borders[w.Border]
	}
	_, oshape, err := c.Geometry(w.XShape, w.WShape)
	if err != nil {
		return err
	}
	w.OShape = oshape
	w.X, w.W = filepath.Join(dir, fmt.Sprint(i, ".x")), filepath.Join(dir, fmt.Sprint(i, ".w"))
	if err := writeRaw(w.X, x.Data); err != nil {
		return err
	}
	if err := writeRaw(w.W, k.Data); err != nil {
		return err
	}
	cg := w.WShape[1]
	w.flops = 2 * float64(w.WShape[2]*w.WShape[3]*cg) * float64(oshape[0]*oshape[1]*oshape[2]*oshape[3])

	if w.Kind == "train" {
		w.flops *= 2 // forward and weight gradient
		y := randTensor[T](r, oshape)
		w.Y = filepath.Join(dir, fmt.Sprint(i, ".y"))
		if err := writeRaw(w.Y, y.Data); err != nil {
			return err
		}
		return timeSteps(w, trainStep(e, w, x, k, y, c), reps)
	}
	var out engine.Tensor[T]
	if err := timeSteps(w, forwardStep(e, w, x, k, c, &out), reps); err != nil {
		return err
	}
	w.Out = filepath.Join(dir, fmt.Sprint(i, ".out"))
	return writeRaw(w.Out, out.Data)
}

// forwardStep is one interactive correlation, leaving its result in out.
func forwardStep[T engine.Float](e *engine.Engine, w *workload, x, k engine.Tensor[T], c engine.Conv, out *engine.Tensor[T]) func() error {
	return func() error {
		var st engine.Stats
		o, err := engine.Conv2D(engine.WithStats(context.Background(), &st), e, engine.Interactive, x, k, nil, c)
		// As in the Python loop, the last result dies once the next one
		// is made; the service releases its results the same way.
		engine.Release(e, out.Data)
		*out = o
		w.method = methodName(&st)
		return err
	}
}

// trainStep is one SGD step of squared loss on target y: the forward
// correlation, the weight gradient and the update, as a training job runs.
func trainStep[T engine.Float](e *engine.Engine, w *workload, x, k, y engine.Tensor[T], c engine.Conv) func() error {
	kk := engine.Tensor[T]{Shape: k.Shape, Data: slices.Clone(k.Data)}
	return func() error {
		var st engine.Stats
		sctx := engine.WithStats(context.Background(), &st)
		yh, err := engine.Conv2D(sctx, e, engine.Background, x, kk, nil, c)
		if err != nil {
			return err
		}
		for j := range yh.Data {
			yh.Data[j] = 2 * (yh.Data[j] - y.Data[j])
		}
		dk, err := engine.Conv2DWeightGrad(sctx, e, engine.Background, x, yh, k.Shape[2], k.Shape[3], c)
		engine.Release(e, yh.Data)
		if err != nil {
			return err
		}
		for j := range kk.Data {
			kk.Data[j] -= 1e-3 * dk.Data[j]
		}
		w.method = methodName(&st)
		return nil
	}
}

// timeSteps runs step twice as a warm-up, then timedRuns times, and
// records the median in w. A first call over 2 s is the figure itself.
//
// Two warm-ups, because a step keeps its last result until the next one is
// made: the second call's result is new memory too, faulted in page by
// page, and only from the third call on do the two results take turns. On
// a VM where a fault costs ~15 µs that is ~0.5 s for a 4096² float64
// result, and such rows get only 3 or 4 timed runs, so that one run was
// their median.
func timeSteps(w *workload, step func() error, reps int) error {
	t0 := time.Now()
	if err := step(); err != nil {
		return err
	}
	first := time.Since(t0)
	if first > 2*time.Second {
		w.oursMS, w.oursN = ms(first), 1
		return nil
	}
	t0 = time.Now()
	if err := step(); err != nil {
		return err
	}
	ts := make([]time.Duration, timedRuns(time.Since(t0), reps))
	cpu0, ok0 := cpuTime()
	var wall time.Duration
	for j := range ts {
		t0 := time.Now()
		if err := step(); err != nil {
			return err
		}
		ts[j] = time.Since(t0)
		wall += ts[j]
	}
	if cpu1, ok1 := cpuTime(); ok0 && ok1 && wall > 0 {
		w.cores = float64(cpu1-cpu0) / float64(wall)
	}
	slices.Sort(ts)
	w.oursMS, w.oursN = ms(ts[len(ts)/2]), len(ts)
	return nil
}

// timedRuns is how many runs follow a warm-up call that took first: reps, but
// no more than fit in about 4 s (at least 3), so that the largest rows do
// not take minutes each. ref.py does the same.
func timedRuns(first time.Duration, reps int) int {
	return min(reps, max(3, int(4*time.Second/max(first, time.Microsecond))))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func randTensor[T engine.Float](r *rand.Rand, shape [4]int) engine.Tensor[T] {
	t := engine.Tensor[T]{Shape: shape, Data: make([]T, shape[0]*shape[1]*shape[2]*shape[3])}
	for i := range t.Data {
		t.Data[i] = T(r.Float64()*2 - 1)
	}
	return t
}

func writeRaw[T engine.Float](path string, data []T) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.LittleEndian, data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// printTable writes the table; output errors are ignored, as for any
// command printing to its terminal.
//
//nolint:errcheck
func printTable(w io.Writer, ws []*workload, py map[string]pyResult, versions string, reps int) {
	fmt.Fprintf(w, "corr2d engine (%d workers) vs %s; median of %d after two warm-up calls (of at least 3 where that takes over 4 s); ms\n", workers, versions, reps)
	fmt.Fprintf(w, "GFLOP/s = 2*kh*kw*C/groups*O*Ho*Wo*N / time (training: forward + weight grad); %%peak of %d cores x %g (f32) / %g (f64) GFLOP/s\n", workers, peak32, peak64)
	fmt.Fprint(w, "* = one run only (the warm-up took over 2 s); - = not run (scipy direct past 4 GFLOP, torch single-channel past 2.5 GFLOP float64 or 40 GFLOP float32: minutes each); scipy fft = best of fftconvolve, oaconvolve\n")
	fmt.Fprint(w, "valid rows: opencv = cv2.filter2D (zero border) cropped to the valid part\n")
	fmt.Fprint(w, "same rows: torch pads with F.pad then convolves; scipy = ndimage.correlate (constant, mirror, nearest); opencv = cv2.filter2D, 2 threads; max rel diff against torch, else opencv\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tdtype\tmethod\tours ms\ttorch ms\tscipy ms\tscipy fft ms\topencv ms\tGFLOP/s\tpeak%\ttorch/ours\tscipy/ours\tfft/ours\tcv/ours\tGB/s\tmax rel diff\t")
	for _, x := range ws {
		r, ok := py[x.Name+x.DType]
		gf := x.flops / x.oursMS / 1e6
		pk := peak32
		if x.DType == "float64" {
			pk = peak64
		}
		gbs := "-"
		if x.single && x.XShape[2] == 1024 {
			size := 4.0
			if x.DType == "float64" {
				size = 8
			}
			bytes := size * float64(x.XShape[2]*x.XShape[3]+x.OShape[2]*x.OShape[3])
			gbs = fmt.Sprintf("%.1f", bytes/x.oursMS/1e6)
		}
		diff := "-"
		switch {
		case ok && x.Kind == "fwd" && r.TorchN > 0:
			diff = fmt.Sprintf("%.1e", r.TorchMaxRel)
		case ok && x.Kind == "fwd" && r.CVN > 0:
			diff = fmt.Sprintf("%.1e", r.CVMaxRel)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f%%\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			x.Name, strings.TrimPrefix(x.DType, "float"), x.method,
			msCell(x.oursMS, x.oursN), msCell(r.TorchMS, r.TorchN), msCell(r.ScipyMS, r.ScipyN), msCell(r.ScipyFFTMS, r.ScipyFFTN), msCell(r.CVMS, r.CVN),
			gf, 100*gf/(pk*workers),
			ratio(r.TorchMS, x.oursMS), ratio(r.ScipyMS, x.oursMS), ratio(r.ScipyFFTMS, x.oursMS), ratio(r.CVMS, x.oursMS), gbs, diff)
	}
	tw.Flush()
	fmt.Fprintln(w, "ratios > 1 mean ours is faster; GB/s = (input + output bytes) / time, 1024 single-channel rows only")
}

func msCell(v float64, n int) string {
	if n == 0 || math.IsNaN(v) {
		return "-"
	}
	s := fmt.Sprintf("%.3f", v)
	if n == 1 {
		s += "*"
	}
	return s
}

func ratio(theirs, ours float64) string {
	if theirs == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", theirs/ours)
}

// methodName reports the method the engine's last Conv2D ran.
func methodName(st *engine.Stats) string {
	return st.Method.String()
}
