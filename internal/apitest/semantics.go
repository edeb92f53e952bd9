package apitest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// semantics checks the rules of the contract that relate one field to
// another, or the response to the request, which OpenAPI 3.0 schemas cannot
// state: tensors that are rectangular, shapes that agree, an answer in the
// media type Accept asked for, a job that echoes what was submitted with its
// defaults, pages that are ordered and filtered as asked. It runs only on
// responses whose schema validation passed, so it can assume types; body is
// the response body as sent before any Content-Encoding, and sub the request
// body as the contract reads it.
func semantics(operationID string, req *http.Request, sub submission, status int, header http.Header, body []byte) []string {
	var msgs []string
	media := mediaOf(header.Get("Content-Type"))
	if operationID == "correlate" {
		msgs = append(msgs, negotiationRules(req, sub, status, header, media)...)
	}
	if status >= 300 {
		return msgs
	}
	if bin, ok, err := readBinaryAnswer(media, body); ok {
		switch {
		case err != nil:
			msgs = append(msgs, err.Error())
		case operationID == "correlate":
			msgs = append(msgs, corr2dRules(sub, answer{media: media, out: bin.shape, okOut: true, shape: bin.shape, dtype: bin.dtype})...)
		}
		return msgs
	}
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil {
		return msgs // Not JSON: the schema check already had its say.
	}
	query := req.URL.Query()

	switch operationID {
	case "correlate":
		out, okOut := dims(resp["output"])
		shape, _ := ints(resp["shape"])
		dtype, _ := resp["dtype"].(string)
		return append(msgs, corr2dRules(sub, answer{media: media, out: out, okOut: okOut, shape: shape, dtype: dtype})...)
	case "createTrainingJob":
		msgs = append(msgs, jobRules("", resp)...)
		if id, _ := resp["id"].(string); header.Get("Location") != "/jobs/"+id {
			msgs = append(msgs, fmt.Sprintf("Location is %q, want /jobs/%s, the id in the body", header.Get("Location"), id))
		}
		jobReq, _ := resp["request"].(map[string]any)
		return append(msgs, echoRules(sub, jobReq)...)
	case "getJob", "cancelJob":
		return jobRules("", resp)
	case "listJobs":
		return jobListRules(query, resp)
	case "listJobLosses":
		return lossPageRules(query, resp)
	}
	return msgs
}

// mediaOf returns the media type of a Content-Type value, lower case and
// without parameters.
func mediaOf(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// negotiationRules checks that POST /corr2d answers in the media type the
// request's Accept prefers, names Accept in Vary, and refuses with 406 only
// what it cannot satisfy: an Accept that allows none of its media types, or
// PNG of an output that is not 2-D.
func negotiationRules(req *http.Request, sub submission, status int, header http.Header, media string) []string {
	accept := req.Header.Get("Accept")
	allowed := preferredAnswers(accept)
	var msgs []string
	switch status {
	case http.StatusOK:
		switch {
		case len(allowed) == 0:
			msgs = append(msgs, fmt.Sprintf("the answer is %s, but Accept %q allows none of %s, %s and %s, so it must be refused with 406",
				media, accept, mediaJSON, mediaNPY, mediaPNG))
		case !slices.Contains(allowed, media):
			msgs = append(msgs, fmt.Sprintf("the answer is %s, but Accept %q prefers %s", media, accept, strings.Join(allowed, " or ")))
		}
		if !listsToken(header.Values("Vary"), "Accept") {
			msgs = append(msgs, fmt.Sprintf("Vary %q does not name Accept, though the answer depends on it", strings.Join(header.Values("Vary"), ", ")))
		}
	case http.StatusNotAcceptable:
		in, okIn := sub.shape("input")
		switch {
		case len(allowed) == 0:
		case !slices.Contains(allowed, mediaPNG):
			msgs = append(msgs, fmt.Sprintf("406, but Accept %q allows %s", accept, strings.Join(allowed, " or ")))
		case okIn && len(in) == 2:
			msgs = append(msgs, fmt.Sprintf("406, but Accept %q allows %s, and a 2-D input gives a 2-D output, which can be an image", accept, strings.Join(allowed, " or ")))
		}
	}
	return msgs
}

// listsToken reports whether a comma-separated header such as Vary names
// token (or *), in any of its lines.
func listsToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t == "*" || strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

// dims returns the shape of a decoded tensor, outermost dimension first
// (nil for a number), or ok false when it is not rectangular: arrays at one
// depth that differ in length, or numbers and arrays side by side.
func dims(v any) (shape []int, ok bool) {
	a, isArray := v.([]any)
	if !isArray {
		_, isNumber := v.(float64)
		return nil, isNumber
	}
	if len(a) == 0 {
		return []int{0}, true
	}
	inner, ok := dims(a[0])
	if !ok {
		return nil, false
	}
	for _, e := range a[1:] {
		d, ok := dims(e)
		if !ok || !slices.Equal(d, inner) {
			return nil, false
		}
	}
	return append([]int{len(a)}, inner...), true
}

// ints reads an array of integers such as shape or kernel_size; ok is false
// for anything else.
func ints(v any) ([]int, bool) {
	a, isArray := v.([]any)
	if !isArray {
		return nil, false
	}
	out := make([]int, len(a))
	for i, e := range a {
		f, isNumber := e.(float64)
		if !isNumber || f != float64(int(f)) {
			return nil, false
		}
		out[i] = int(f)
	}
	return out, true
}

// pair reads a [rows, cols] array such as kernel_size.
func pair(v any) (a, b int, ok bool) {
	p, ok := ints(v)
	if !ok || len(p) != 2 {
		return 0, 0, false
	}
	return p[0], p[1], true
}

// dimsString writes a shape as 2x3x4.
func dimsString(d []int) string {
	parts := make([]string, len(d))
	for i, n := range d {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "x")
}

// shapeString writes a shape as [2, 3, 4].
func shapeString(d []int) string {
	parts := make([]string, len(d))
	for i, n := range d {
		parts[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// geometryFields are the request fields that change the output size of a
// correlation away from d2l's (H-kh+1)x(W-kw+1).
var geometryFields = []string{"stride", "padding", "dilation", "groups"}

// answer is a correlation as a response gives it, whatever its media type:
// the dimensions of its output (okOut false when the output is not
// rectangular), the shape it declares and its dtype ("" for an image).
type answer struct {
	media string
	out   []int
	okOut bool
	shape []int
	dtype string
}

func corr2dRules(sub submission, a answer) []string {
	var msgs []string
	out, okOut, shape := a.out, a.okOut, a.shape
	if !okOut {
		msgs = append(msgs, "output is not rectangular: it has arrays of different lengths at one depth")
	}
	if okOut && !slices.Equal(shape, out) {
		msgs = append(msgs, fmt.Sprintf("shape is %s but output is %s", shapeString(shape), dimsString(out)))
	}

	if a.dtype != "" { // An image has none.
		want, sent := sub.fields["dtype"].(string)
		switch def := sub.defaultDType("float64"); {
		case sent && a.dtype != want:
			msgs = append(msgs, fmt.Sprintf("dtype is %q, but the request asked for %q", a.dtype, want))
		case !sent && a.dtype != def:
			msgs = append(msgs, fmt.Sprintf("dtype is %q, but the request names none, so it must be the default %q", a.dtype, def))
		}
	}

	in, okIn := sub.shape("input")
	if !okIn || len(in) < 2 {
		return msgs // A request the service should have refused.
	}
	if len(shape) != len(in) {
		msgs = append(msgs, fmt.Sprintf("shape %s has %d dimensions, want the input's %d", shapeString(shape), len(shape), len(in)))
	}
	if a.media == mediaPNG && len(in) != 2 {
		msgs = append(msgs, fmt.Sprintf("an %s answer needs a 2-D output, but a %d-D input gives a %d-D one; it must be refused with 406", mediaPNG, len(in), len(in)))
	}
	k, okK := sub.shape("kernel")
	if !okOut || !okK || len(out) != len(in) || (len(k) != 2 && len(k) != 4) {
		return msgs
	}
	// Batch and channels: N x C x H x W with O x Cg x kh x kw weights gives
	// N x O x Ho x Wo, each of the lower ranks leaving out what it lacks.
	outChannels := 1
	if len(k) == 4 {
		outChannels = k[0]
	}
	switch len(in) {
	case 3:
		if out[0] != outChannels {
			msgs = append(msgs, fmt.Sprintf("output has %d channels, want the kernel's %d output channels", out[0], outChannels))
		}
	case 4:
		if out[0] != in[0] {
			msgs = append(msgs, fmt.Sprintf("output has a batch of %d, want the input's %d", out[0], in[0]))
		}
		if out[1] != outChannels {
			msgs = append(msgs, fmt.Sprintf("output has %d channels, want the kernel's %d output channels", out[1], outChannels))
		}
	}
	// Without any geometry a 2-D kernel slides over the input as in d2l.
	for _, f := range geometryFields {
		if _, ok := sub.fields[f]; ok {
			return msgs
		}
	}
	if len(k) != 2 {
		return msgs
	}
	h, w := in[len(in)-2], in[len(in)-1]
	kh, kw := k[0], k[1]
	rows, cols := out[len(out)-2], out[len(out)-1]
	if h > 0 && kh > 0 && (rows != h-kh+1 || cols != w-kw+1) {
		msgs = append(msgs, fmt.Sprintf("output is %dx%d, want (H-kh+1)x(W-kw+1) = %dx%d for a %dx%d input and a %dx%d kernel",
			rows, cols, h-kh+1, w-kw+1, h, w, kh, kw))
	}
	return msgs
}

// jobRules checks one job; where prefixes its messages inside a list.
func jobRules(where string, job map[string]any) []string {
	var msgs []string
	add := func(format string, args ...any) { msgs = append(msgs, where+fmt.Sprintf(format, args...)) }

	jobReq, _ := job["request"].(map[string]any)
	kh, kw, _ := pair(jobReq["kernel_size"])
	in, tgt := infoShape(jobReq["input"]), infoShape(jobReq["target"])
	okIn, okTgt := len(in) > 0, len(tgt) > 0
	// The weights come back framed as the problem was: kh x kw for a 2-D
	// one, O x (C/groups) x kh x kw otherwise.
	wantRank := 4
	if okIn && len(in) == 2 {
		wantRank = 2
	}
	var kernel []int
	for _, field := range []string{"kernel", "init_kernel"} {
		d, ok := dims(job[field])
		if !ok {
			add("%s is not rectangular: it has arrays of different lengths at one depth", field)
			continue
		}
		if field == "kernel" {
			kernel = d
		}
		if okIn && len(d) != wantRank {
			add("%s is %s, rank %d, but a %d-D request.input needs rank %d", field, dimsString(d), len(d), len(in), wantRank)
		}
		if len(d) < 2 || d[len(d)-2] != kh || d[len(d)-1] != kw {
			add("%s is %s but request.kernel_size is [%d, %d]", field, dimsString(d), kh, kw)
		}
		if len(d) == 4 && okIn && okTgt && len(in) >= 3 && len(tgt) == len(in) {
			c, o := in[len(in)-3], tgt[len(tgt)-3]
			groups := 1
			if g, ok := jobReq["groups"].(float64); ok && g >= 1 {
				groups = int(g)
			}
			if d[0] != o {
				add("%s has %d output channels, want the target's %d", field, d[0], o)
			}
			if c%groups == 0 && d[1] != c/groups {
				add("%s has %d input channels, want C/groups = %d/%d = %d", field, d[1], c, groups, c/groups)
			}
		}
	}
	if init, ok := jobReq["init"]; ok {
		// A 2-D init for a multi-channel problem comes back 4-D, 1x1xkhxkw.
		d, _ := dims(job["init_kernel"])
		sent := infoShape(init)
		if len(sent) > len(d) || !slices.Equal(d[len(d)-len(sent):], sent) || tensorSize(d) != tensorSize(sent) {
			add("init_kernel is %s, but request.init has shape %s", dimsString(d), dimsString(sent))
		}
	}

	// A bias exactly when the request trains one, one number per output
	// channel.
	trainsBias, _ := jobReq["bias"].(bool)
	for _, field := range []string{"bias", "init_bias"} {
		b, has := job[field]
		switch {
		case has && !trainsBias:
			add("%s is present, but request.bias is not true", field)
		case !has && trainsBias:
			add("request.bias is true, but the job has no %s", field)
		case has && len(kernel) > 0:
			outChannels := 1
			if len(kernel) == 4 {
				outChannels = kernel[0]
			}
			if n := len(b.([]any)); n != outChannels {
				add("%s has %d numbers, want one per output channel, %d", field, n, outChannels)
			}
		}
	}
	if init, ok := jobReq["init_bias"]; ok && !reflect.DeepEqual(init, job["init_bias"]) {
		add("init_bias %v differs from request.init_bias %v", job["init_bias"], init)
	}

	step, _ := job["step"].(float64)
	steps, _ := job["steps"].(float64)
	if s, _ := jobReq["steps"].(float64); s != steps {
		add("steps is %v but request.steps is %v", steps, s)
	}
	if step > steps {
		add("step %v is past steps %v", step, steps)
	}
	if job["status"] == "succeeded" && step != steps {
		add("a succeeded job has step %v, want steps = %v", step, steps)
	}
	return msgs
}

// trainDefaults are the values a job's request holds for the fields the
// client left out.
var trainDefaults = map[string]any{
	"stride":       1.0,
	"padding":      0.0,
	"dilation":     1.0,
	"groups":       1.0,
	"padding_mode": "zeros",
	"bias":         false,
	"dtype":        "float32",
	"lr":           0.03,
	"steps":        10.0,
	"loss":         "sum",
}

// optimizerDefaults are torch.optim's defaults for each optimizer, for the
// fields that apply to it; the echo's other fields are the service's to fill.
var optimizerDefaults = map[string]map[string]any{
	"sgd":  {"momentum": 0.0, "dampening": 0.0, "nesterov": false, "weight_decay": 0.0},
	"adam": {"betas": []any{0.9, 0.999}, "eps": 1e-8, "weight_decay": 0.0},
}

// echoRules checks that a job runs what was submitted: every field the
// client gave comes back unchanged in request (an object such as optimizer
// field by field, since the echo fills in the rest), a tensor (in JSON, as
// a .npy file or an image) comes back as its shape, and every field it
// left out holds its default.
func echoRules(sub submission, jobReq map[string]any) []string {
	if sub.fields == nil || jobReq == nil {
		return nil
	}
	submitted := maps.Clone(sub.fields)
	var msgs []string
	for _, name := range []string{"input", "target", "init"} {
		sent, ok := submitted[name]
		if !ok {
			continue
		}
		delete(submitted, name)
		want, _ := dims(sent)
		if got := infoShape(jobReq[name]); !slices.Equal(got, want) {
			msgs = append(msgs, fmt.Sprintf("request.%s has shape %s, but the client sent %s", name, dimsString(got), dimsString(want)))
		}
	}
	msgs = append(msgs, echoed("request", submitted, jobReq)...)
	for name, p := range sub.parts {
		if got := infoShape(jobReq[name]); !slices.Equal(got, p.shape) {
			msgs = append(msgs, fmt.Sprintf("request.%s has shape %s, but the %s part was %s", name, dimsString(got), p.kind, dimsString(p.shape)))
		}
	}
	for field, def := range trainDefaults {
		if field == "dtype" {
			def = sub.defaultDType(def.(string))
		}
		if _, sent := submitted[field]; !sent && !reflect.DeepEqual(jobReq[field], def) {
			msgs = append(msgs, fmt.Sprintf("request.%s is %v, but the client sent none, so it must be the default %v", field, jobReq[field], def))
		}
	}
	_, seed := sub.fields["seed"]
	_, init := sub.fields["init"]
	if !seed && !init && (jobReq["seed"] != 0.0 || jobReq["init"] != nil) {
		msgs = append(msgs, fmt.Sprintf("request.seed is %v, but the client sent neither seed nor init, so it must be 0", jobReq["seed"]))
	}
	sentOpt, _ := submitted["optimizer"].(map[string]any)
	echoOpt, _ := jobReq["optimizer"].(map[string]any)
	name, _ := echoOpt["name"].(string)
	if sentOpt == nil && name != "sgd" {
		msgs = append(msgs, fmt.Sprintf("request.optimizer.name is %q, but the client sent no optimizer, so it must be sgd", name))
	}
	for field, def := range optimizerDefaults[name] {
		if _, sent := sentOpt[field]; !sent && !reflect.DeepEqual(echoOpt[field], def) {
			msgs = append(msgs, fmt.Sprintf("request.optimizer.%s is %v, but the client sent none, so it must be %s's default %v", field, echoOpt[field], name, def))
		}
	}
	slices.Sort(msgs) // Map order must not make failures flaky to compare.
	return msgs
}

func tensorSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// infoShape is the shape a job's request shows for a tensor.
func infoShape(v any) []int {
	info, _ := v.(map[string]any)
	a, _ := info["shape"].([]any)
	shape := make([]int, 0, len(a))
	for _, d := range a {
		n, _ := d.(float64)
		shape = append(shape, int(n))
	}
	return shape
}

// echoed reports where echo differs from what was sent: objects must hold
// every field that was sent, with an equal value, and may hold more; any
// other value must be equal.
func echoed(where string, sent, echo any) []string {
	s, isObject := sent.(map[string]any)
	if !isObject {
		if !reflect.DeepEqual(sent, echo) {
			return []string{fmt.Sprintf("%s is %v, but %v was submitted", where, echo, sent)}
		}
		return nil
	}
	e, _ := echo.(map[string]any)
	var msgs []string
	for k, v := range s {
		msgs = append(msgs, echoed(where+"."+k, v, e[k])...)
	}
	return msgs
}

func jobListRules(query url.Values, resp map[string]any) []string {
	var msgs []string
	jobs, _ := resp["jobs"].([]any)
	limit := 100
	if n, err := strconv.Atoi(query.Get("limit")); err == nil {
		limit = n
	}
	if len(jobs) > limit {
		msgs = append(msgs, fmt.Sprintf("%d jobs on a page of limit %d", len(jobs), limit))
	}
	var prevCreated, prevID string
	for i, v := range jobs {
		job, _ := v.(map[string]any)
		msgs = append(msgs, jobRules(fmt.Sprintf("jobs[%d]: ", i), job)...)
		if want := query.Get("status"); want != "" && job["status"] != want {
			msgs = append(msgs, fmt.Sprintf("jobs[%d] has status %v, but the query asked for %s", i, job["status"], want))
		}
		created, _ := job["created_at"].(string)
		id, _ := job["id"].(string)
		if i > 0 && !ordered(prevCreated, prevID, created, id) {
			msgs = append(msgs, fmt.Sprintf("jobs[%d] (%s, %s) sorts before jobs[%d] (%s, %s); want created_at, then id, ascending",
				i, created, id, i-1, prevCreated, prevID))
		}
		prevCreated, prevID = created, id
	}
	if next, ok := resp["next_after"].(string); ok && len(jobs) > 0 && next != prevID {
		msgs = append(msgs, fmt.Sprintf("next_after is %s, want the id of the last job on the page, %s", next, prevID))
	}
	return msgs
}

// ordered reports whether a job created at createdA with id idA may come
// before one created at createdB with idB in a list. Timestamps are compared
// as times, since RFC 3339 strings with different precision or offsets do not
// sort as text.
func ordered(createdA, idA, createdB, idB string) bool {
	a, errA := time.Parse(time.RFC3339Nano, createdA)
	b, errB := time.Parse(time.RFC3339Nano, createdB)
	if errA != nil || errB != nil {
		return true // The schema check reports malformed timestamps.
	}
	if !a.Equal(b) {
		return a.Before(b)
	}
	return idA < idB
}

func lossPageRules(query url.Values, resp map[string]any) []string {
	var msgs []string
	losses, _ := resp["losses"].([]any)
	limit := 1000
	if n, err := strconv.Atoi(query.Get("limit")); err == nil {
		limit = n
	}
	if len(losses) > limit {
		msgs = append(msgs, fmt.Sprintf("%d losses on a page of limit %d", len(losses), limit))
	}
	prev := 0.0
	if n, err := strconv.Atoi(query.Get("after_step")); err == nil {
		prev = float64(n)
	}
	for i, v := range losses {
		entry, _ := v.(map[string]any)
		step, _ := entry["step"].(float64)
		if step <= prev {
			msgs = append(msgs, fmt.Sprintf("losses[%d] has step %v, want steps increasing and after after_step", i, step))
		}
		prev = step
	}
	if next, ok := resp["next_after_step"].(float64); ok && len(losses) > 0 && next != prev {
		msgs = append(msgs, fmt.Sprintf("next_after_step is %v, want the last step on the page, %v", next, prev))
	}
	return msgs
}
