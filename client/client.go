// Package client is a Go client of corr2d: the generated client of every
// route (package corr2dapi, from api/openapi.yaml) with a thin typed layer
// over it for what is awkward by hand, tensors sent and answered as NumPy
// .npy files, and waiting for a training job to end.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/corr2d/corr2d/client/corr2dapi"
	"github.com/corr2d/corr2d/internal/npy"
)

// Client talks to one corr2d service.
type Client struct {
	// API is the generated client, for every route.
	API *corr2dapi.ClientWithResponses
}

// New returns a client of the service at baseURL, such as
// http://localhost:8080. A non-empty token is sent as a bearer token.
func New(baseURL, token string) (*Client, error) {
	opts := []corr2dapi.ClientOption{}
	if token != "" {
		opts = append(opts, corr2dapi.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	}
	api, err := corr2dapi.NewClientWithResponses(baseURL, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{API: api}, nil
}

// Tensor is a dense float64 tensor: its shape, outermost first, and its
// elements in row-major order.
type Tensor struct {
	Shape []int
	Data  []float64
}

// Matrix makes a rank-2 Tensor of rows of equal length.
func Matrix(rows [][]float64) Tensor {
	t := Tensor{Shape: []int{len(rows), 0}}
	if len(rows) > 0 {
		t.Shape[1] = len(rows[0])
	}
	for _, r := range rows {
		t.Data = append(t.Data, r...)
	}
	return t
}

// Rows returns a rank-2 tensor as rows.
func (t Tensor) Rows() [][]float64 {
	if len(t.Shape) != 2 {
		return nil
	}
	out := make([][]float64, t.Shape[0])
	for i := range out {
		out[i] = t.Data[i*t.Shape[1] : (i+1)*t.Shape[1]]
	}
	return out
}

// Problem is an error answer of the service (an RFC 9457 problem).
type Problem struct {
	Status    int    `json:"status"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Limit     string `json:"limit"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Pointer string `json:"pointer"`
	} `json:"errors"`
}

func (p *Problem) Error() string { return fmt.Sprintf("corr2d: %d %s: %s", p.Status, p.Type, p.Detail) }

// Code is the problem's kind, the last segment of its type, such as
// invalid-shape.
func (p *Problem) Code() string { return p.Type[strings.LastIndexByte(p.Type, '/')+1:] }

// Pointer is the JSON pointer of the offending field, if one is named.
func (p *Problem) Pointer() string {
	if len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0].Pointer
}

func problemOf(resp *http.Response, body []byte) error {
	p := &Problem{Status: resp.StatusCode}
	if err := json.Unmarshal(body, p); err != nil || p.Type == "" {
		p.Detail = strings.TrimSpace(string(body))
	}
	return p
}

// form builds a multipart body of .npy tensor parts and a params part.
func form(tensors map[string]Tensor, params map[string]any) (body *bytes.Buffer, contentType string, err error) {
	body = &bytes.Buffer{}
	w := multipart.NewWriter(body)
	for name, t := range tensors {
		part, err := w.CreateFormFile(name, name+".npy")
		if err != nil {
			return nil, "", err
		}
		if err := npy.Write(part, npy.Array{DType: npy.Float64, Shape: t.Shape, F64: t.Data}); err != nil {
			return nil, "", fmt.Errorf("corr2d: %s: %w", name, err)
		}
	}
	if len(params) > 0 {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, "", err
		}
		if err := w.WriteField("params", string(b)); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return body, w.FormDataContentType(), nil
}

func accept(mediaType string) corr2dapi.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Accept", mediaType)
		return nil
	}
}

// Corr2D cross-correlates input with kernel on the service. params are
// the request's other fields (stride, padding, dilation, groups, bias,
// padding_mode, operation, ...), as in the JSON body.
func (c *Client) Corr2D(ctx context.Context, input, kernel Tensor, params map[string]any) (Tensor, error) {
	body, ct, err := form(map[string]Tensor{"input": input, "kernel": kernel}, params)
	if err != nil {
		return Tensor{}, err
	}
	resp, err := c.API.CorrelateWithBody(ctx, nil, ct, body, accept("application/x-npy"))
	if err != nil {
		return Tensor{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return Tensor{}, problemOf(resp, b)
	}
	a, err := npy.Read(resp.Body, npy.Limits{MaxElements: 1 << 28})
	if err != nil {
		return Tensor{}, fmt.Errorf("corr2d: read the answer: %w", err)
	}
	out := Tensor{Shape: a.Shape, Data: a.F64}
	if a.DType == npy.Float32 {
		out.Data = make([]float64, len(a.F32))
		for i, v := range a.F32 {
			out.Data[i] = float64(v)
		}
	}
	return out, nil
}

// Train starts a job that learns a kernel mapping input to target. params
// are the request's other fields (kernel_size, lr, steps, loss, seed, ...).
func (c *Client) Train(ctx context.Context, input, target Tensor, params map[string]any) (corr2dapi.Job, error) {
	body, ct, err := form(map[string]Tensor{"input": input, "target": target}, params)
	if err != nil {
		return corr2dapi.Job{}, err
	}
	resp, err := c.API.CreateTrainingJobWithBodyWithResponse(ctx, nil, ct, body, accept("application/json"))
	if err != nil {
		return corr2dapi.Job{}, err
	}
	if resp.StatusCode() != http.StatusAccepted {
		return corr2dapi.Job{}, problemOf(resp.HTTPResponse, resp.Body)
	}
	var j corr2dapi.Job
	if err := json.Unmarshal(resp.Body, &j); err != nil {
		return corr2dapi.Job{}, fmt.Errorf("corr2d: read the job: %w", err)
	}
	return j, nil
}

// Wait returns the job once it has ended (succeeded, failed or canceled),
// long-polling the service so that it answers as soon as the job moves.
func (c *Client) Wait(ctx context.Context, id string) (corr2dapi.Job, error) {
	wait := "30s"
	for {
		resp, err := c.API.GetJobWithResponse(ctx, id, &corr2dapi.GetJobParams{Wait: &wait})
		if err != nil {
			return corr2dapi.Job{}, err
		}
		switch {
		case resp.StatusCode() == http.StatusServiceUnavailable:
			// Too many long-polls at once: back off, then poll again.
			select {
			case <-ctx.Done():
				return corr2dapi.Job{}, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		case resp.JSON200 == nil:
			return corr2dapi.Job{}, problemOf(resp.HTTPResponse, resp.Body)
		}
		switch resp.JSON200.Status {
		case corr2dapi.Queued, corr2dapi.Running:
		default:
			return *resp.JSON200, nil
		}
		if err := ctx.Err(); err != nil {
			return corr2dapi.Job{}, err
		}
	}
}
