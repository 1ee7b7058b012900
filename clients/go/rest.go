package raccoon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

const maxAckBytes = 1 << 20

// NewREST makes a client that POSTs each batch to url
// (http://host:port/api/v1/events).
func NewREST(rawURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Kind: KindEncoding, Err: fmt.Errorf("REST needs an http:// or https:// URL, got %q", rawURL)}
	}
	c := newClient(opts)
	hc := c.opts.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		if c.opts.tlsConfig != nil {
			tr.TLSClientConfig = c.opts.tlsConfig
		}
		hc = &http.Client{Transport: tr}
	}
	c.transport = &restTransport{c: c, url: u.String(), http: hc, headers: c.opts.requestHeaders()}
	return c, nil
}

type restTransport struct {
	c       *Client
	url     string
	http    *http.Client
	headers http.Header
}

var contentTypes = map[WireType]string{WireProtobuf: "application/proto", WireJSON: "application/json"}

func (t *restTransport) start(p *Pending) {
	go t.c.runAttempts(p, func(ctx context.Context) (*Ack, *Error) { return t.attempt(ctx, p) })
}

func (t *restTransport) attempt(ctx context.Context, p *Pending) (*Ack, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(p.req.body))
	if err != nil {
		return nil, &Error{Kind: KindBadRequest, Err: err}
	}
	for k, v := range t.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentTypes[p.req.wire])
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, &Error{Kind: KindTransport, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAckBytes))
	if err != nil {
		return nil, &Error{Kind: KindTransport, HTTPStatus: resp.StatusCode, Err: err}
	}
	ack, decodeErr := decodeAck(body, p.req.wire)
	if resp.StatusCode == http.StatusOK {
		if decodeErr != nil {
			return nil, &Error{Kind: KindServer, HTTPStatus: resp.StatusCode, Err: decodeErr}
		}
		if ack.ReqGUID != p.ReqGUID {
			t.c.opts.logger.Warn("raccoon: REST ack names another req_guid", "sent", p.ReqGUID, "ack", ack.ReqGUID)
		}
		return ack, nil
	}
	e := &Error{Kind: KindBadRequest, HTTPStatus: resp.StatusCode}
	if RetryableHTTPStatus(resp.StatusCode) {
		e.Kind = KindServer
	}
	if decodeErr == nil {
		e.Code, e.Reason = ack.Code, ack.Reason
	} else {
		e.Reason = string(bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return nil, e
}

func (t *restTransport) forget(*Pending) {}

func (t *restTransport) close() { t.http.CloseIdleConnections() }
