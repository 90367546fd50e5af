package supernode

// Serving metrics over HTTP, shared by eserver-supernode and eserver-auth
// (the auth package may not import this one, so the helper lives here).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsPath is where a MetricsServer serves the metrics.
const MetricsPath = "/metrics"

// metricsShutdownTimeout bounds how long Close waits for scrapes in flight.
const metricsShutdownTimeout = 5 * time.Second

// NewMetricsRegistry returns a private registry (never the global default,
// so tests and embedders get only what they registered) holding cs plus the
// Go runtime and process collectors.
func NewMetricsRegistry(cs ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	all := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}, cs...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return reg, nil
}

// MetricsHandler serves g at MetricsPath. A collector that fails (say, the
// mailbox database is gone) leaves out its metric and the rest are served.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	}))
	return mux
}

// MetricsServer is an HTTP server of MetricsHandler on its own listener.
type MetricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// ListenMetrics listens on addr (HOST:PORT; port 0 picks a free one) and
// serves g at MetricsPath until Close. It fails at once if addr cannot be
// bound, so a mistyped flag stops the program at start.
func ListenMetrics(addr string, g prometheus.Gatherer, log *slog.Logger) (*MetricsServer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	ms := &MetricsServer{
		srv: &http.Server{
			Handler:           MetricsHandler(g),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(ms.done)
		if err := ms.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return ms, nil
}

// Addr is the address the server listens on, with the real port.
func (ms *MetricsServer) Addr() net.Addr { return ms.ln.Addr() }

// URL is the metrics URL, http://HOST:PORT/metrics.
func (ms *MetricsServer) URL() string { return "http://" + ms.ln.Addr().String() + MetricsPath }

// Close stops the server: scrapes in flight get a few seconds to finish,
// then it returns once the serving goroutine has.
func (ms *MetricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	err := ms.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, ms.srv.Close())
	}
	<-ms.done
	if err != nil {
		return fmt.Errorf("metrics: shutting down: %w", err)
	}
	return nil
}
