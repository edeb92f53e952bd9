package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// Record is a job as a store writes it: flat columns, the spec as a
// versioned JSON document without tensors, and every tensor in the binary
// form of EncodeTensor (Bias and InitBias nil without a bias, OptState nil
// before the first step). Every store keeps these bytes as they are.
type Record struct {
	ID, Owner, Status string
	Spec              []byte
	Input, Target     []byte
	Weight, Bias      []byte
	InitWeight        []byte
	InitBias          []byte
	OptState          []byte
	CreatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
	Step              int
	Loss              *float64
	Error             string
	Run               int
	// PausedReason is why an active job waits, empty when it does not;
	// PausedSince is set exactly when PausedReason is.
	PausedReason string
	PausedSince  *time.Time
}

// SpecFormat is the version of the stored spec document. Version 3 is the
// first with string enums; older files (store schema 2) held the engine's
// own numbers and are converted by the store's migration.
const SpecFormat = 3

// specDoc is the stored spec: plain data owned by jobs, with names for
// every enum so that reordering engine constants changes nothing stored.
type specDoc struct {
	Format      int             `json:"format"`
	InputShape  []int           `json:"input_shape"`
	TargetShape []int           `json:"target_shape"`
	Rank        int             `json:"rank"`
	KernelSize  [2]int          `json:"kernel_size"`
	Stride      [2]int          `json:"stride"`
	Dilation    [2]int          `json:"dilation"`
	Padding     string          `json:"padding"`
	Pad         [4]int          `json:"pad"`
	PaddingMode string          `json:"padding_mode"`
	Fill        float64         `json:"fill,omitempty"`
	Groups      int             `json:"groups"`
	Convolve    bool            `json:"convolve,omitempty"`
	Method      string          `json:"method"`
	Bias        bool            `json:"bias"`
	DType       train.DType     `json:"dtype"`
	LR          float64         `json:"lr"`
	Steps       int             `json:"steps"`
	Loss        train.Loss      `json:"loss"`
	Optimizer   train.Optimizer `json:"optimizer"`
	Seed        *uint64         `json:"seed,omitempty"`
	// Init says the client gave the initial weights (then kept as the
	// job's InitWeight), InitBias that it gave the initial bias too.
	Init     bool            `json:"init,omitempty"`
	InitBias bool            `json:"init_bias,omitempty"`
	Request  json.RawMessage `json:"request,omitempty"`
}

// The stored names of the engine's enums.
var (
	paddingNames = map[engine.Padding]string{
		engine.PadExplicit: "explicit", engine.PadValid: "valid", engine.PadSame: "same", engine.PadFull: "full",
	}
	borderNames = map[engine.Border]string{
		engine.BorderZeros: "zeros", engine.BorderReflect: "reflect", engine.BorderReplicate: "replicate",
		engine.BorderCircular: "circular", engine.BorderSymmetric: "symmetric",
	}
	methodNames = map[engine.Method]string{
		engine.MethodAuto: "auto", engine.MethodDirect: "direct", engine.MethodFFT: "fft",
	}
)

func name[K comparable](names map[K]string, k K, what string) (string, error) {
	if n, ok := names[k]; ok {
		return n, nil
	}
	return "", fmt.Errorf("jobs: no stored name for %s %v", what, k)
}

func unname[K comparable](names map[K]string, n, what string) (K, error) {
	for k, v := range names {
		if v == n {
			return k, nil
		}
	}
	var zero K
	return zero, corrupt("unknown %s %q", what, n)
}

// EncodeSpec encodes s without its input and target.
func EncodeSpec(s Spec) ([]byte, error) {
	d := specDoc{
		Format: SpecFormat, InputShape: s.Input.Shape, TargetShape: s.Target.Shape, Rank: s.Rank,
		KernelSize: s.KernelSize, Stride: s.Conv.Stride, Dilation: s.Conv.Dilation, Pad: s.Conv.Pad,
		Fill: s.Conv.Fill, Groups: s.Conv.Groups, Convolve: s.Conv.Convolve,
		Bias: s.Bias, DType: s.DType, LR: s.LR, Steps: s.Steps, Loss: s.Loss, Optimizer: s.Optimizer,
		Seed: s.Seed, Init: s.Init != nil, InitBias: s.InitBias != nil, Request: s.Request,
	}
	var err1, err2, err3 error
	d.Padding, err1 = name(paddingNames, s.Conv.Padding, "padding")
	d.PaddingMode, err2 = name(borderNames, s.Conv.Border, "border")
	d.Method, err3 = name(methodNames, s.Conv.Method, "method")
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return nil, err
		}
	}
	return json.Marshal(d)
}

// decodeSpec decodes EncodeSpec's document; the tensors come separately.
func decodeSpec(b []byte, input, target, initWeight tensor.Dense, initBias []float64) (Spec, error) {
	var d specDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return Spec{}, corrupt("spec: %v", err)
	}
	if d.Format != SpecFormat {
		return Spec{}, corrupt("spec format %d, want %d", d.Format, SpecFormat)
	}
	s := Spec{
		Input: input, Target: target, Rank: d.Rank, KernelSize: d.KernelSize,
		Conv: engine.Conv{Stride: d.Stride, Dilation: d.Dilation, Pad: d.Pad, Fill: d.Fill, Groups: d.Groups, Convolve: d.Convolve},
		Bias: d.Bias, DType: d.DType, LR: d.LR, Steps: d.Steps, Loss: d.Loss, Optimizer: d.Optimizer,
		Seed: d.Seed, Request: d.Request,
	}
	if s.Input.Data == nil {
		s.Input.Shape = d.InputShape
	}
	if s.Target.Data == nil {
		s.Target.Shape = d.TargetShape
	}
	var err1, err2, err3 error
	s.Conv.Padding, err1 = unname(paddingNames, d.Padding, "padding")
	s.Conv.Border, err2 = unname(borderNames, d.PaddingMode, "padding_mode")
	s.Conv.Method, err3 = unname(methodNames, d.Method, "method")
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return Spec{}, err
		}
	}
	if d.Init {
		w := initWeight
		s.Init = &w
	}
	if d.InitBias {
		s.InitBias = initBias
	}
	return s, nil
}

// EncodeJob turns a job into the record a store writes.
func EncodeJob(j Job) (Record, error) {
	spec, err := EncodeSpec(j.Spec)
	if err != nil {
		return Record{}, err
	}
	return Record{
		ID: j.ID, Owner: j.Owner, Status: string(j.Status), Spec: spec,
		Input: encodeDense(j.Spec.Input), Target: encodeDense(j.Spec.Target),
		Weight: encodeDense(j.Weight), Bias: encodeVector(j.Bias),
		InitWeight: encodeDense(j.InitWeight), InitBias: encodeVector(j.InitBias),
		OptState:  EncodeOptState(j.State),
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Step: j.Step, Loss: j.Loss, Error: j.Error, Run: j.Run,
	}, nil
}

// PauseColumns is a pause as a store writes it: the reason, NULL for no
// pause, and the time in Unix nanoseconds.
func PauseColumns(p *Pause) (reason *string, since *int64) {
	if p == nil || p.Reason == "" {
		return nil, nil
	}
	ns := p.Since.UnixNano()
	return &p.Reason, &ns
}

// DecodeTensors decodes a job's stored input and target.
func DecodeTensors(input, target []byte) (in, tgt tensor.Dense, err error) {
	if in, err = decodeWhole(input); err != nil {
		return in, tgt, fmt.Errorf("input: %w", err)
	}
	if tgt, err = decodeWhole(target); err != nil {
		return in, tgt, fmt.Errorf("target: %w", err)
	}
	return in, tgt, nil
}

// Job decodes the record. A record read without its Input and Target
// bytes (as stores return jobs) gives a spec whose input and target have
// their shapes but no data.
func (r Record) Job() (Job, error) {
	j := Job{
		ID: r.ID, Owner: r.Owner, Status: Status(r.Status),
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Step: r.Step, Loss: r.Loss, Error: r.Error, Run: r.Run,
	}
	if r.PausedReason != "" && r.PausedSince != nil {
		j.Paused = &Pause{Reason: r.PausedReason, Since: *r.PausedSince}
	}
	var (
		input, target tensor.Dense
		errs          [7]error
	)
	input, errs[0] = decodeWhole(r.Input)
	target, errs[1] = decodeWhole(r.Target)
	j.Weight, errs[2] = decodeWhole(r.Weight)
	j.Bias, errs[3] = decodeVector(r.Bias)
	j.InitWeight, errs[4] = decodeWhole(r.InitWeight)
	j.InitBias, errs[5] = decodeVector(r.InitBias)
	j.State, errs[6] = DecodeOptState(r.OptState)
	for i, err := range errs {
		if err != nil {
			return Job{}, fmt.Errorf("job %s column %d: %w", r.ID, i, err)
		}
	}
	var err error
	if j.Spec, err = decodeSpec(r.Spec, input, target, j.InitWeight, j.InitBias); err != nil {
		return Job{}, fmt.Errorf("job %s: %w", r.ID, err)
	}
	return j, nil
}

// CheckpointRecord is a checkpoint as a store writes it.
type CheckpointRecord struct {
	Step         int
	Weight, Bias []byte
	OptState     []byte
	// Loss is the latest loss, nil when the checkpoint recorded none.
	Loss   *float64
	Chunks []LossChunk
}

// EncodeCheckpoint turns a checkpoint into the record a store writes.
func EncodeCheckpoint(c Checkpoint) CheckpointRecord {
	r := CheckpointRecord{
		Step: c.Step, Weight: encodeDense(c.Weight), Bias: encodeVector(c.Bias),
		OptState: EncodeOptState(c.State), Chunks: LossChunks(c.Losses),
	}
	if n := len(c.Losses); n > 0 {
		r.Loss = &c.Losses[n-1].Loss
	}
	return r
}
