package apitest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/apitest"
)

// The multi-channel operands of the document's examples: a 2x3x4 input and
// 2x2x2x2 weights.
const (
	input3D  = `[[[1,2,0,1],[0,1,3,2],[2,0,1,1]], [[0,1,1,0],[1,0,2,1],[1,1,0,2]]]`
	kernel4D = `[[[[1,0],[0,-1]],[[0,1],[1,0]]], [[[1,1],[1,1]],[[0,0],[0,2]]]]`
	// sameOutput is conv2d(input3D, kernel4D, bias [0, 0.5], padding "same").
	sameOutput = `[[[2,0,0,2],[1,3,3,4],[3,0,3,1]], [[4.5,10.5,8.5,3.5],[5.5,5.5,11.5,3.5],[2.5,1.5,2.5,1.5]]]`
)

func corr2dBody(fields string) string {
	return `{"input": ` + input3D + `, "kernel": ` + kernel4D + fields + `}`
}

func answer(output, shape, dtype string) string {
	return `{"output": ` + output + `, "shape": ` + shape + `, "dtype": "` + dtype + `"}`
}

// What the schemas of POST /corr2d accept and refuse, now that tensors have
// ranks 2 to 4 and the convolution has PyTorch's parameters. A request the
// contract forbids must not be answered 200.
func TestCheckCorr2dRequestSchema(t *testing.T) {
	v := apitest.NewValidator(t)
	ok := answer(sameOutput, `[2,3,4]`, "float64")
	tests := []struct {
		name     string
		reqBody  string
		wantFail bool
		mention  []string
	}{
		{name: "the multi-channel example conforms", reqBody: corr2dBody(`, "padding": "same", "bias": [0, 0.5]`)},
		{name: "every parameter at once conforms", reqBody: corr2dBody(`, "stride": [1, 1], "padding": [0, 1, 0, 1], "dilation": 1, "groups": 1,
			"padding_mode": "zeros", "fill_value": 0, "bias": 0.5, "operation": "correlate", "dtype": "float64"`)},
		{name: "padding [ph, pw] conforms", reqBody: corr2dBody(`, "padding": [0, 1]`)},
		{name: "padding full conforms", reqBody: corr2dBody(`, "padding": "full", "padding_mode": "symmetric", "operation": "convolve"`)},
		{name: "a rank-1 input is refused", reqBody: `{"input": [1, 2, 3], "kernel": [[1]]}`, wantFail: true,
			mention: []string{"contract forbids", `Error at "/input"`, "matches none of the alternatives: a rank-2 tensor"}},
		{name: "a rank-5 input is refused", reqBody: `{"input": [[[[[1]]]]], "kernel": [[1]]}`, wantFail: true, mention: []string{`Error at "/input"`}},
		{name: "a rank-3 kernel is refused", reqBody: `{"input": ` + input3D + `, "kernel": [[[1]]]}`, wantFail: true, mention: []string{`Error at "/kernel"`}},
		{name: "numbers beside arrays are refused", reqBody: `{"input": [[1, [2]]], "kernel": [[1]]}`, wantFail: true, mention: []string{`Error at "/input"`}},
		{name: "an empty row is refused", reqBody: `{"input": [[]], "kernel": [[1]]}`, wantFail: true, mention: []string{`Error at "/input"`}},
		{name: "stride 0 is refused", reqBody: corr2dBody(`, "stride": 0`), wantFail: true, mention: []string{`Error at "/stride"`}},
		{name: "a stride of three numbers is refused", reqBody: corr2dBody(`, "stride": [1, 1, 1]`), wantFail: true, mention: []string{`Error at "/stride"`}},
		{name: "padding of three numbers is refused", reqBody: corr2dBody(`, "padding": [1, 1, 1]`), wantFail: true, mention: []string{`Error at "/padding"`}},
		{name: "negative padding is refused", reqBody: corr2dBody(`, "padding": -1`), wantFail: true, mention: []string{`Error at "/padding"`}},
		{name: "an unknown padding name is refused", reqBody: corr2dBody(`, "padding": "half"`), wantFail: true, mention: []string{`Error at "/padding"`}},
		{name: "groups 0 is refused", reqBody: corr2dBody(`, "groups": 0`), wantFail: true, mention: []string{`Error at "/groups"`}},
		{name: "scipy's name for a padding mode is refused", reqBody: corr2dBody(`, "padding_mode": "wrap"`), wantFail: true, mention: []string{`Error at "/padding_mode"`}},
		{name: "an unknown operation is refused", reqBody: corr2dBody(`, "operation": "flip"`), wantFail: true, mention: []string{`Error at "/operation"`}},
		{name: "float16 is refused", reqBody: corr2dBody(`, "dtype": "float16"`), wantFail: true, mention: []string{`Error at "/dtype"`}},
		{name: "a bias of strings is refused", reqBody: corr2dBody(`, "bias": ["0"]`), wantFail: true, mention: []string{`Error at "/bias"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.wantFail, func(tb testing.TB) {
				// The semantic rules are not the point here; the answer
				// is always the same well-formed 200.
				v.Check(tb, corr2dRequest(tt.reqBody), []byte(tt.reqBody), 200, corr2dHeader("application/json"), []byte(ok))
			}, tt.mention...)
		})
	}
}

// The rules that relate a correlation's answer to its request.
func TestCheckCorr2dSemantics(t *testing.T) {
	v := apitest.NewValidator(t)
	same := corr2dBody(`, "padding": "same", "bias": [0, 0.5]`)
	batch := `{"input": [` + input3D + `, ` + input3D + `], "kernel": ` + kernel4D + `, "padding": "same", "bias": [0, 0.5]}`
	tests := []struct {
		name    string
		reqBody string
		body    string
		mention string // empty when the exchange conforms
	}{
		{name: "3-D in, 3-D out", reqBody: same, body: answer(sameOutput, `[2,3,4]`, "float64")},
		{name: "4-D in, 4-D out", reqBody: batch, body: answer(`[`+sameOutput+`,`+sameOutput+`]`, `[2,2,3,4]`, "float64")},
		{
			name: "float32 echoed", reqBody: corr2dBody(`, "padding": "same", "bias": [0, 0.5], "dtype": "float32"`),
			body: answer(sameOutput, `[2,3,4]`, "float32"),
		},
		{
			name: "a strided answer is not held to H-kh+1", reqBody: corr2dBody(`, "stride": 2, "padding": 1, "padding_mode": "replicate"`),
			body: answer(`[[[0,4,0],[0,3,4]], [[4,6,4],[6,5,10]]]`, `[2,2,3]`, "float64"),
		},
		{
			name: "a 2-D kernel on a 3-D input without geometry", reqBody: `{"input": [[[0,1,2],[3,4,5],[6,7,8]]], "kernel": [[0,1],[2,3]]}`,
			body: answer(`[[[19,25],[37,43]]]`, `[1,2,2]`, "float64"),
		},
		{
			name: "the wrong dtype", reqBody: corr2dBody(`, "padding": "same", "bias": [0, 0.5], "dtype": "float32"`),
			body: answer(sameOutput, `[2,3,4]`, "float64"), mention: `dtype is "float64", but the request asked for "float32"`,
		},
		{
			name: "float32 without asking", reqBody: d2lRequest,
			body: answer(`[[19,25],[37,43]]`, `[2,2]`, "float32"), mention: `the default "float64"`,
		},
		{
			name: "a shape that is not the output's", reqBody: same,
			body: answer(sameOutput, `[2,4,3]`, "float64"), mention: "shape is [2, 4, 3] but output is 2x3x4",
		},
		{
			name: "an output of another rank than the input", reqBody: same,
			body: answer(`[[2,0,0,2],[1,3,3,4],[3,0,3,1]]`, `[3,4]`, "float64"), mention: "want the input's 3",
		},
		{
			name: "a ragged 3-D output", reqBody: same,
			body:    answer(`[[[2,0,0,2],[1,3,3,4],[3,0,3,1]], [[4.5,10.5,8.5,3.5],[5.5,5.5,11.5],[2.5,1.5,2.5,1.5]]]`, `[2,3,4]`, "float64"),
			mention: "not rectangular",
		},
		{
			name: "an output with too few channels", reqBody: same,
			body: answer(`[[[2,0,0,2],[1,3,3,4],[3,0,3,1]]]`, `[1,3,4]`, "float64"), mention: "want the kernel's 2 output channels",
		},
		{
			name: "a batch lost", reqBody: batch,
			body: answer(`[`+sameOutput+`]`, `[1,2,3,4]`, "float64"), mention: "a batch of 1, want the input's 2",
		},
		{
			name: "a 2-D kernel on a 3-D input giving the wrong size", reqBody: `{"input": [[[0,1,2],[3,4,5],[6,7,8]]], "kernel": [[0,1],[2,3]]}`,
			body: answer(`[[[19,25,0],[37,43,0]]]`, `[1,2,3]`, "float64"), mention: "want (H-kh+1)x(W-kw+1) = 2x2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.mention != "", func(tb testing.TB) {
				v.Check(tb, corr2dRequest(tt.reqBody), []byte(tt.reqBody), 200, corr2dHeader("application/json"), []byte(tt.body))
			}, tt.mention)
		})
	}
}

// A two-channel problem with a bias, trained with Adam, as the document's
// twoChannelAdam example, and the echo of its request.
const (
	twoChannelTarget = `[[[2.5,0.5,0.5],[1.5,3.5,3.5]]]`
	twoChannelTrain  = `{"input": ` + input3D + `, "target": ` + twoChannelTarget + `, "kernel_size": [2,2], "bias": true,
		"lr": 0.1, "steps": 20, "seed": 7, "optimizer": {"name": "adam"}}`
	twoChannelEcho = `{"input": ` + input3D + `, "target": ` + twoChannelTarget + `, "kernel_size": [2,2],
		"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "padding_mode": "zeros", "bias": true, "dtype": "float32",
		"lr": 0.1, "steps": 20, "loss": "sum", "seed": 7,
		"optimizer": {"name": "adam", "momentum": 0, "dampening": 0, "nesterov": false, "weight_decay": 0, "betas": [0.9, 0.999], "eps": 1e-8}}`
	twoChannelKernel = `[[[[0.1,0.2],[0.3,0.4]], [[0.5,0.6],[0.7,0.8]]]]`
	twoChannelJob    = `{"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "status": "queued", "created_at": "2025-01-15T10:30:00Z",
		"step": 0, "steps": 20, "kernel": ` + twoChannelKernel + `, "init_kernel": ` + twoChannelKernel + `,
		"bias": [0.1], "init_bias": [0.1], "request": ` + twoChannelEcho + `}`
)

func trainRequest(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/train", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func checkTrain(v *apitest.Validator, tb testing.TB, reqBody, job string) {
	h := jsonHeader("application/json")
	h.Set("Location", "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3")
	v.Check(tb, trainRequest(reqBody), []byte(reqBody), 202, h, leanJob(tb, job))
}

// leanJob shows the tensors of a job fixture's request as the service
// does, by shape and dtype, and the chosen optimizer's settings only: the
// fixtures spell the request out as it was sent.
func leanJob(tb testing.TB, job string) []byte {
	tb.Helper()
	var j map[string]any
	if err := json.Unmarshal([]byte(job), &j); err != nil {
		return []byte(job) // a fixture that is not JSON on purpose
	}
	req, _ := j["request"].(map[string]any)
	for _, k := range []string{"input", "target", "init"} {
		a, ok := req[k].([]any)
		if !ok {
			continue
		}
		var shape []any
		for ok {
			shape = append(shape, float64(len(a)))
			a, ok = a[0].([]any)
		}
		req[k] = map[string]any{"shape": shape, "dtype": req["dtype"]}
	}
	if opt, ok := req["optimizer"].(map[string]any); ok {
		drop := []string{"betas", "eps"}
		if opt["name"] == "adam" {
			drop = []string{"momentum", "dampening", "nesterov"}
		}
		for _, k := range drop {
			delete(opt, k)
		}
	}
	b, err := json.Marshal(j)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// What the schema of POST /train accepts and refuses.
func TestCheckTrainRequestSchema(t *testing.T) {
	v := apitest.NewValidator(t)
	with := func(old, new string) string { return strings.Replace(twoChannelTrain, old, new, 1) }
	tests := []struct {
		name     string
		reqBody  string
		wantFail bool
		mention  []string
	}{
		{name: "the two-channel request conforms", reqBody: twoChannelTrain},
		{name: "betas out of [0, 1) are refused", reqBody: with(`{"name": "adam"}`, `{"name": "adam", "betas": [1, 0.999]}`),
			wantFail: true, mention: []string{"contract forbids", `Error at "/optimizer"`, `Error at "/betas/0": number must be less than 1`}},
		{name: "momentum for adam is refused", reqBody: with(`{"name": "adam"}`, `{"name": "adam", "momentum": 0.9}`),
			wantFail: true, mention: []string{`property "momentum" is unsupported`}},
		{name: "betas for sgd are refused", reqBody: with(`{"name": "adam"}`, `{"name": "sgd", "betas": [0.9, 0.999]}`),
			wantFail: true, mention: []string{`property "betas" is unsupported`}},
		{name: "an unknown optimizer is refused", reqBody: with(`{"name": "adam"}`, `{"name": "rmsprop"}`),
			wantFail: true, mention: []string{`Error at "/name"`}},
		{name: "an optimizer without a name is refused", reqBody: with(`{"name": "adam"}`, `{"momentum": 0.9}`),
			wantFail: true, mention: []string{`property "name" is missing`}},
		{name: "a negative weight decay is refused", reqBody: with(`{"name": "adam"}`, `{"name": "sgd", "weight_decay": -1}`),
			wantFail: true, mention: []string{`Error at "/weight_decay": number must be at least 0`}},
		{name: "fill_value is refused", reqBody: with(`"bias": true`, `"bias": true, "fill_value": 1`),
			wantFail: true, mention: []string{`property "fill_value" is unsupported`}},
		{name: "operation is refused", reqBody: with(`"bias": true`, `"bias": true, "operation": "convolve"`),
			wantFail: true, mention: []string{`property "operation" is unsupported`}},
		{name: "a numeric bias is refused", reqBody: with(`"bias": true`, `"bias": 0.5`),
			wantFail: true, mention: []string{`Error at "/bias": value must be a boolean`}},
		{name: "kernel_size of one number is refused", reqBody: with(`"kernel_size": [2,2]`, `"kernel_size": [2]`),
			wantFail: true, mention: []string{`Error at "/kernel_size"`}},
		{name: "init_bias without init is refused", reqBody: with(`"seed": 7`, `"seed": 7, "init_bias": [0]`),
			wantFail: true, mention: []string{"a request with init_bias also has init and bias true"}},
		{name: "init_bias without bias is refused", reqBody: strings.NewReplacer(`"bias": true`, `"bias": false`, `"seed": 7`, `"init": `+twoChannelKernel+`, "init_bias": [0]`).Replace(twoChannelTrain),
			wantFail: true, mention: []string{"a request with init_bias also has init and bias true"}},
		{name: "a rank-3 init is refused", reqBody: with(`"seed": 7`, `"init": [[[1, 1], [1, 1]]]`),
			wantFail: true, mention: []string{`Error at "/init"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.wantFail, func(tb testing.TB) { checkTrain(v, tb, tt.reqBody, twoChannelJob) }, tt.mention...)
		})
	}
}

// The rules that relate a job's weights and bias to its request, and the
// echo of a submitted request to what was submitted.
func TestCheckTrainSemantics(t *testing.T) {
	v := apitest.NewValidator(t)
	job := func(old, new string) string { return strings.Replace(twoChannelJob, old, new, 1) }
	const edgeBody = `{"input": [[1,1,0],[1,1,0]], "target": [[0,1],[0,1]], "kernel_size": [1,2]}`
	const edgeJob = `{"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "status": "queued", "created_at": "2025-01-15T10:30:00Z",
		"step": 0, "steps": 10, "kernel": [[0.5, 0.5]], "init_kernel": [[0.5, 0.5]],
		"request": {"input": [[1,1,0],[1,1,0]], "target": [[0,1],[0,1]], "kernel_size": [1,2], ` + geometryDefaults +
		`"lr": 0.03, "steps": 10, "loss": "sum", "seed": 0, ` + sgdEcho + `}}`
	edge := func(old, new string) string { return strings.Replace(edgeJob, old, new, 1) }
	// Two groups: each of the two output channels reads one input channel.
	const groupsTarget = `[[[1,1,1],[1,1,1]], [[2,2,2],[2,2,2]]]`
	const groupsBody = `{"input": ` + input3D + `, "target": ` + groupsTarget + `, "kernel_size": [2,2], "groups": 2}`
	groupsJob := func(kernel string) string {
		return `{"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "status": "queued", "created_at": "2025-01-15T10:30:00Z",
			"step": 0, "steps": 10, "kernel": ` + kernel + `, "init_kernel": ` + kernel + `,
			"request": {"input": ` + input3D + `, "target": ` + groupsTarget + `, "kernel_size": [2,2], ` +
			strings.Replace(geometryDefaults, `"groups": 1`, `"groups": 2`, 1) +
			`"lr": 0.03, "steps": 10, "loss": "sum", "seed": 0, ` + sgdEcho + `}}`
	}
	tests := []struct {
		name    string
		reqBody string
		job     string
		mention string // empty when the exchange conforms
	}{
		{name: "the two-channel job conforms", reqBody: twoChannelTrain, job: twoChannelJob},
		{name: "a 2-D job conforms", reqBody: edgeBody, job: edgeJob},
		{
			name: "a 2-D init for a single-channel 3-D problem gives 4-D weights", reqBody: `{"input": [[[1,1,0],[1,1,0]]], "target": [[[0,1],[0,1]]], "kernel_size": [1,2], "init": [[1, -1]]}`,
			job: strings.NewReplacer(`[[0.5, 0.5]]`, `[[[[1, -1]]]]`, `"input": [[1,1,0],[1,1,0]], "target": [[0,1],[0,1]]`, `"input": [[[1,1,0],[1,1,0]]], "target": [[[0,1],[0,1]]]`,
				`"seed": 0`, `"init": [[1, -1]]`).Replace(edgeJob),
		},
		{
			name: "4-D weights for a 2-D problem", reqBody: edgeBody,
			job: strings.ReplaceAll(edgeJob, `[[0.5, 0.5]]`, `[[[[0.5, 0.5]]]]`), mention: "a 2-D request.input needs rank 2",
		},
		{
			name: "2-D weights for a 3-D problem", reqBody: twoChannelTrain,
			job: strings.ReplaceAll(twoChannelJob, twoChannelKernel, `[[0.1,0.2],[0.3,0.4]]`), mention: "a 3-D request.input needs rank 4",
		},
		{
			name: "weights not of kernel_size", reqBody: twoChannelTrain,
			job: job(`"kernel": `+twoChannelKernel, `"kernel": [[[[0.1,0.2,0.3]], [[0.5,0.6,0.7]]]]`), mention: "kernel is 1x2x1x3 but request.kernel_size is [2, 2]",
		},
		{
			name: "weights with the wrong output channels", reqBody: twoChannelTrain,
			job:     job(`"kernel": `+twoChannelKernel, `"kernel": [`+twoChannelKernel[1:len(twoChannelKernel)-1]+`, `+twoChannelKernel[1:len(twoChannelKernel)-1]+`]`),
			mention: "kernel has 2 output channels, want the target's 1",
		},
		{name: "grouped weights conform", reqBody: groupsBody, job: groupsJob(`[[[[1,0],[0,1]]], [[[1,1],[1,1]]]]`)},
		{name: "weights that ignore groups", reqBody: groupsBody, job: groupsJob(kernel4D), mention: "kernel has 2 input channels, want C/groups = 2/2 = 1"},
		{
			name: "a bias the request did not ask for", reqBody: edgeBody,
			job: edge(`"step": 0`, `"step": 0, "bias": [0.1], "init_bias": [0.1]`), mention: "bias is present, but request.bias is not true",
		},
		{
			name: "no bias although the request asked for one", reqBody: twoChannelTrain,
			job: job(`"bias": [0.1], "init_bias": [0.1], `, ``), mention: "request.bias is true, but the job has no bias",
		},
		{
			name: "a bias of the wrong length", reqBody: twoChannelTrain,
			job: job(`"bias": [0.1]`, `"bias": [0.1, 0.2]`), mention: "bias has 2 numbers, want one per output channel, 1",
		},
		{
			name:    "init_bias not the one submitted",
			reqBody: strings.Replace(twoChannelTrain, `"seed": 7,`, `"init": `+twoChannelKernel+`, "init_bias": [0.2],`, 1),
			job:     strings.Replace(twoChannelJob, `"seed": 7,`, `"init": `+twoChannelKernel+`, "init_bias": [0.2],`, 1),
			mention: "init_bias [0.1] differs from request.init_bias [0.2]",
		},
		{
			name: "a submitted optimizer field changed", reqBody: strings.Replace(twoChannelTrain, `{"name": "adam"}`, `{"name": "adam", "eps": 1e-6}`, 1),
			job: twoChannelJob, mention: "request.optimizer.eps is 1e-08, but 1e-06 was submitted",
		},
		{
			name: "adam's defaults not filled in", reqBody: twoChannelTrain,
			job: job(`"betas": [0.9, 0.999]`, `"betas": [0, 0]`), mention: "request.optimizer.betas is [0 0], but the client sent none",
		},
		{
			name: "sgd without being asked", reqBody: edgeBody,
			job: edge(sgdEcho, `"optimizer": {"name": "adam", "weight_decay": 0, "betas": [0.9, 0.999], "eps": 1e-8}`), mention: "the client sent no optimizer, so it must be sgd",
		},
		{
			name: "a default stride that is not 1", reqBody: edgeBody,
			job: edge(`"stride": 1`, `"stride": [1, 2]`), mention: "request.stride is [1 2], but the client sent none",
		},
		{
			name: "a float64 default", reqBody: edgeBody,
			job: edge(`"dtype": "float32"`, `"dtype": "float64"`), mention: "request.dtype is float64",
		},
		{
			name: "a padding echoed in another form", reqBody: strings.Replace(edgeBody, `"kernel_size"`, `"padding": [0, 0], "kernel_size"`, 1),
			job: edgeJob, mention: "request.padding is 0, but [0 0] was submitted",
		},
		{
			name: "an echoed optimizer missing a field", reqBody: edgeBody,
			job: edge(`, "nesterov": false`, ``), mention: "nesterov",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.mention != "", func(tb testing.TB) { checkTrain(v, tb, tt.reqBody, tt.job) }, tt.mention)
		})
	}
}
