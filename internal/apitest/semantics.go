package apitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"
)

// semantics checks the rules of the contract that relate one field to
// another, or the response to the request, which OpenAPI 3.0 schemas cannot
// state: matrix rows of equal length, shapes that agree, a job that echoes
// what was submitted, pages that are ordered and filtered as asked. It runs
// only on responses whose schema validation passed, so it can assume types.
func semantics(operationID string, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) []string {
	if status >= 300 {
		return nil
	}
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil {
		return nil // Not JSON: the schema check already had its say.
	}
	var submitted map[string]any
	if len(reqBody) > 0 && json.Unmarshal(reqBody, &submitted) != nil {
		submitted = nil
	}
	query := req.URL.Query()

	switch operationID {
	case "correlate":
		return corr2dRules(submitted, resp)
	case "createTrainingJob":
		msgs := jobRules("", resp)
		if id, _ := resp["id"].(string); header.Get("Location") != "/jobs/"+id {
			msgs = append(msgs, fmt.Sprintf("Location is %q, want /jobs/%s, the id in the body", header.Get("Location"), id))
		}
		// The job must run what was submitted: every field the client
		// gave comes back unchanged in request, next to the defaults.
		jobReq, _ := resp["request"].(map[string]any)
		for k, v := range submitted {
			if !reflect.DeepEqual(v, jobReq[k]) {
				msgs = append(msgs, fmt.Sprintf("request.%s is %v, but %v was submitted", k, jobReq[k], v))
			}
		}
		return msgs
	case "getJob", "cancelJob":
		return jobRules("", resp)
	case "listJobs":
		return jobListRules(query, resp)
	case "listJobLosses":
		return lossPageRules(query, resp)
	}
	return nil
}

// shape returns the rows and columns of a decoded matrix, or ok false when
// its rows differ in length.
func shape(v any) (rows, cols int, ok bool) {
	m, _ := v.([]any)
	for i, row := range m {
		r, _ := row.([]any)
		if i == 0 {
			cols = len(r)
		} else if len(r) != cols {
			return len(m), cols, false
		}
	}
	return len(m), cols, true
}

// pair reads a [rows, cols] array such as shape or kernel_size.
func pair(v any) (a, b int, ok bool) {
	p, _ := v.([]any)
	if len(p) != 2 {
		return 0, 0, false
	}
	x, okx := p[0].(float64)
	y, oky := p[1].(float64)
	return int(x), int(y), okx && oky
}

func corr2dRules(submitted, resp map[string]any) []string {
	var msgs []string
	rows, cols, ok := shape(resp["output"])
	if !ok {
		msgs = append(msgs, "output has rows of different lengths")
	}
	if r, c, _ := pair(resp["shape"]); r != rows || c != cols {
		msgs = append(msgs, fmt.Sprintf("shape is [%d, %d] but output is %dx%d", r, c, rows, cols))
	}
	h, w, okIn := shape(submitted["input"])
	kh, kw, okK := shape(submitted["kernel"])
	if okIn && okK && h > 0 && kh > 0 && (rows != h-kh+1 || cols != w-kw+1) {
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
	for _, field := range []string{"kernel", "init_kernel"} {
		r, c, ok := shape(job[field])
		switch {
		case !ok:
			add("%s has rows of different lengths", field)
		case r != kh || c != kw:
			add("%s is %dx%d but request.kernel_size is [%d, %d]", field, r, c, kh, kw)
		}
	}
	if init, ok := jobReq["init"]; ok && !reflect.DeepEqual(init, job["init_kernel"]) {
		add("init_kernel %v differs from request.init %v", job["init_kernel"], init)
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
