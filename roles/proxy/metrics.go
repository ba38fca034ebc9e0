package proxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's own Prometheus series (the HTTP layer adds its
// request counts, bytes and durations).
type metrics struct {
	connected prometheus.Gauge
	protects  *prometheus.CounterVec
	retrieves *prometheus.CounterVec
	removes   prometheus.Counter
	badShares *prometheus.CounterVec
	orphans   prometheus.Counter
	renewals  *prometheus.CounterVec
	expired   prometheus.Gauge
	// transitErrors counts QKD transit failures (seal, open, status) by
	// storage server.
	transitErrors *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qasmat_storage_servers_connected", Help: "Storage servers connected to the proxy."}),
		protects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qasmat_files_protected_total", Help: "Protect operations by outcome."}, []string{"outcome"}),
		retrieves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qasmat_files_retrieved_total", Help: "Retrieve operations by outcome."}, []string{"outcome"}),
		removes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qasmat_files_removed_total", Help: "Files removed."}),
		badShares: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qasmat_share_verification_failures_total",
			Help: "Share chunks that were missing or failed their digest during retrieval, by storage server."},
			[]string{"storage"}),
		orphans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qasmat_orphaned_files_swept_total", Help: "Orphaned share files deleted from storage servers."}),
	}
	m.renewals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qasmat_renewals_total",
		Help: "Share renewals by outcome: ok, unavailable (fewer than k holders connected), busy, error."},
		[]string{"outcome"})
	m.expired = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "qasmat_files_expired", Help: "Files whose shares were not renewed within the expiry duration."})
	m.transitErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qasmat_qkd_transit_errors_total",
		Help: "QKD transit failures by storage server and step: seal, open, status (key manager down, keys exhausted, rejected)."},
		[]string{"storage", "step"})
	for _, o := range []string{"ok", "unavailable", "busy", "error"} {
		m.renewals.WithLabelValues(o)
	}
	r.MustRegister(m.connected, m.protects, m.retrieves, m.removes, m.badShares, m.orphans, m.renewals, m.expired, m.transitErrors)
	return m
}
